// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"fmt"
)

// Version is the version of State's encoding this package writes; it
// reads every version from Oldest. Version 2 dropped the magic and version
// the payload carried (the migration record's state version is the one).
// Version 3 dropped the CPU interface's part: the guest's CPU interface is
// the virtual one, whose state package gic/vcpuif moves; version 2's is
// read only as the Ferry that wrote it last wrote it, all zero (see
// Decode).
const (
	Version = 3
	Oldest  = 2
)

// State is the guest's interrupt state: what its GIC driver programmed in
// the distributor and its redistributor. Ferry's own interrupts are not in
// it (Capture zeroes their bits; Guard.Capture puts back what the guest
// last wrote to them, as the guest sees them). Its CPU interface is the
// virtual one (package gic/vcpuif), whose state is a record of its own.
type State struct {
	Dist   Dist
	Redist Redist
}

// Dist is the distributor: GICD_CTLR and every implemented SPI. Bitmaps
// hold one bit per SPI, word w covering INTIDs 32+32w..63+32w (GICD_*R<w+1>);
// Config holds two bits per SPI, word w covering INTIDs 32+16w..47+16w
// (GICD_ICFGR<w+2>).
type Dist struct {
	CTLR     uint32   // GICD_CTLR: EnableGrp0, EnableGrp1, ARE, DS
	NumSPIs  uint32   // SPIs held: INTIDs 32..32+NumSPIs-1 (32*GICD_TYPER.ITLinesNumber, at most 988)
	Group    []uint32 // GICD_IGROUPR
	Enable   []uint32 // GICD_ISENABLER
	Pending  []uint32 // GICD_ISPENDR
	Active   []uint32 // GICD_ISACTIVER
	GrpMod   []uint32 // GICD_IGRPMODR (RAZ/WI when GICD_CTLR.DS = 1)
	Priority []uint8  // GICD_IPRIORITYR, one per SPI
	Config   []uint32 // GICD_ICFGR: bit 2k+1 set = edge-triggered
	Route    []uint64 // GICD_IROUTER, one per SPI
}

// Redist is the redistributor of the guest's one CPU: its control and
// wake registers and the SGIs and PPIs (INTIDs 0-31, one bit each).
type Redist struct {
	CTLR     uint32    // GICR_CTLR: the DPG bits (LPIs are never enabled)
	WAKER    uint32    // GICR_WAKER.ProcessorSleep
	Group    uint32    // GICR_IGROUPR0
	Enable   uint32    // GICR_ISENABLER0
	Pending  uint32    // GICR_ISPENDR0
	Active   uint32    // GICR_ISACTIVER0
	GrpMod   uint32    // GICR_IGRPMODR0
	Priority [32]uint8 // GICR_IPRIORITYR0-7
	Config   [2]uint32 // GICR_ICFGR0 (SGIs, read only), GICR_ICFGR1 (PPIs)
}

// words is the number of 32-bit words for n items of width bits each.
func words(n, width int) int { return (n*width + 31) / 32 }

// lastMask is the mask of the valid bits of word w of a bitmap of n items
// of width bits.
func lastMask(w, n, width int) uint32 {
	valid := n*width - 32*w
	if valid >= 32 {
		return ^uint32(0)
	}
	return 1<<valid - 1
}

// Capture reads the guest's interrupt state. d is the distributor, r the
// guest CPU's redistributor (RD_base); own's bits are left out (zero), as
// is the enable of Ferry's group (EnableGrp1) when own is not empty. Every
// interrupt is reported as Non-secure Group 1, whatever the group
// registers read (with two Security states they are Secure-only: zero to
// Ferry), so the state is the same from either kind of GIC. The guest
// must not be running. A redistributor with LPIs enabled is refused: LPI
// tables are not captured.
func Capture(d, r Regs, own Owned) (*State, error) {
	m, err := own.masks()
	if err != nil {
		return nil, err
	}
	s := &State{}
	if err := s.Dist.capture(d); err != nil {
		return nil, err
	}
	if m.any() {
		s.Dist.CTLR &^= ferryEnable
	}
	for w := range s.Dist.Group {
		s.Dist.Group[w] = lastMask(w, int(s.Dist.NumSPIs), 1)
	}
	s.Dist.hide(m)
	if err := s.Redist.capture(r, m); err != nil {
		return nil, err
	}
	return s, nil
}

// CaptureRedist reads the guest's state of the redistributor r alone, as
// Capture does its part: the redistributor of another of the guest's
// vCPUs than the one a State holds.
func CaptureRedist(r Regs, own Owned) (*Redist, error) {
	m, err := own.masks()
	if err != nil {
		return nil, err
	}
	rs := &Redist{}
	if err := rs.capture(r, m); err != nil {
		return nil, err
	}
	return rs, nil
}

// Restore programs the redistributor's state alone into r, as
// State.Restore does its part. The vCPU must not be running.
func (rs *Redist) Restore(r Regs, own Owned) error {
	m, err := own.masks()
	if err != nil {
		return err
	}
	if err := rs.Validate(); err != nil {
		return err
	}
	return rs.restore(r, m)
}

func (ds *Dist) capture(d Regs) error {
	ds.CTLR = d.Read32(GICD_CTLR) & distCTLRKept
	n := spisOf(d.Read32(GICD_TYPER))
	ds.NumSPIs = uint32(n)
	ds.alloc()
	for w := range ds.Group {
		off := uint64(4 * (w + 1))
		mask := lastMask(w, n, 1)
		ds.Group[w] = d.Read32(GICD_IGROUPRn+off) & mask
		ds.Enable[w] = d.Read32(GICD_ISENABLERn+off) & mask
		ds.Pending[w] = d.Read32(GICD_ISPENDRn+off) & mask
		ds.Active[w] = d.Read32(GICD_ISACTIVERn+off) & mask
		ds.GrpMod[w] = d.Read32(GICD_IGRPMODRn+off) & mask
	}
	for w := range ds.Config {
		ds.Config[w] = d.Read32(GICD_ICFGRn+uint64(4*(w+2))) & lastMask(w, n, 2) & cfgEdgeBits
	}
	for i := 0; i < n; i += 4 { // n is a multiple of 4
		v := d.Read32(GICD_IPRIORITYRn + uint64(FirstSPI+i))
		for k := range 4 {
			ds.Priority[i+k] = uint8(v >> (8 * k))
		}
	}
	for i := range ds.Route {
		ds.Route[i] = d.Read64(GICD_IROUTERn+uint64(8*(FirstSPI+i))) & irouterFields
	}
	return nil
}

// wordAt is the state's value of the distributor word at GICD offset off
// (a one-bit-per-INTID register, GICD_IPRIORITYR<n> or GICD_ICFGR<n> of an
// SPI it holds); ok is false for any other offset. Clear-enable reads as
// set-enable, clear-pending and clear-active as their set registers.
func (ds *Dist) wordAt(off uint64) (v uint32, ok bool) {
	switch base := regBase(off); base {
	case GICD_IPRIORITYRn:
		i := int(off-GICD_IPRIORITYRn) - FirstSPI
		if i < 0 || i+4 > len(ds.Priority) {
			return 0, false
		}
		p := ds.Priority[i : i+4]
		return uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24, true
	case GICD_ICFGRn:
		w := int(off-GICD_ICFGRn)/4 - 2
		if w < 0 || w >= len(ds.Config) {
			return 0, false
		}
		return ds.Config[w], true
	default:
		a := ds.bitmap(base)
		w := int(off-base)/4 - 1
		if a == nil || w < 0 || w >= len(a) {
			return 0, false
		}
		return a[w], true
	}
}

// setWordAt stores v as the word wordAt reads; offsets it does not know
// are ignored.
func (ds *Dist) setWordAt(off uint64, v uint32) {
	if _, ok := ds.wordAt(off); !ok {
		return
	}
	switch base := regBase(off); base {
	case GICD_IPRIORITYRn:
		i := int(off-GICD_IPRIORITYRn) - FirstSPI
		for k := range 4 {
			ds.Priority[i+k] = uint8(v >> (8 * k))
		}
	case GICD_ICFGRn:
		ds.Config[int(off-GICD_ICFGRn)/4-2] = v
	default:
		ds.bitmap(base)[int(off-base)/4-1] = v
	}
}

// bitmap is the state's array for the one-bit register at base.
func (ds *Dist) bitmap(base uint64) []uint32 {
	switch base {
	case GICD_IGROUPRn:
		return ds.Group
	case GICD_ISENABLERn, GICD_ICENABLERn:
		return ds.Enable
	case GICD_ISPENDRn, GICD_ICPENDRn:
		return ds.Pending
	case GICD_ISACTIVERn, GICD_ICACTIVERn:
		return ds.Active
	case GICD_IGRPMODRn:
		return ds.GrpMod
	}
	return nil
}

// hide zeroes Ferry's SPIs in a captured state.
func (ds *Dist) hide(m ownMasks) {
	for off, mask := range m.dist {
		if v, ok := ds.wordAt(off); ok {
			ds.setWordAt(off, v&^mask)
		}
	}
	for _, id := range m.spis {
		if i := int(id - FirstSPI); i < len(ds.Route) {
			ds.Route[i] = 0
		}
	}
}

// cfgEdgeBits are the Int_config[1] bits of an ICFGR word (bit 2k+1: edge);
// the even bits are RES0 (IHI 0069 12.9, GICD_ICFGR<n>).
const cfgEdgeBits = 0xaaaa_aaaa

func (ds *Dist) alloc() {
	n := int(ds.NumSPIs)
	w := words(n, 1)
	ds.Group, ds.Enable, ds.Pending = make([]uint32, w), make([]uint32, w), make([]uint32, w)
	ds.Active, ds.GrpMod = make([]uint32, w), make([]uint32, w)
	ds.Config = make([]uint32, words(n, 2))
	ds.Priority = make([]uint8, n)
	ds.Route = make([]uint64, n)
}

func (rs *Redist) capture(r Regs, m ownMasks) error {
	ctlr := r.Read32(GICR_CTLR)
	if ctlr&GICR_CTLR_EnableLPIs != 0 {
		return fmt.Errorf("gic: GICR_CTLR.EnableLPIs is set (%#x): LPI state is not captured; the guest must have no ITS", ctlr)
	}
	rs.CTLR = ctlr & redistCTLRKept
	rs.WAKER = r.Read32(GICR_WAKER) & WAKER_ProcessorSleep
	rs.Group = ^m.bits // all Group 1, as for the distributor's
	rs.Enable = r.Read32(GICR_ISENABLER0) &^ m.bits
	rs.Pending = r.Read32(GICR_ISPENDR0) &^ m.bits
	rs.Active = r.Read32(GICR_ISACTIVER0) &^ m.bits
	rs.GrpMod = r.Read32(GICR_IGRPMODR0) &^ m.bits
	for w := range 8 {
		v := r.Read32(GICR_IPRIORITYRn+uint64(4*w)) &^ m.prio[w]
		for k := range 4 {
			rs.Priority[4*w+k] = uint8(v >> (8 * k))
		}
	}
	rs.Config[0] = r.Read32(GICR_ICFGR0) & cfgEdgeBits
	rs.Config[1] = r.Read32(GICR_ICFGR1) & cfgEdgeBits &^ m.cfg
	return nil
}

// Restore programs the state into a GIC (d, r as for Capture) whose
// distributor implements at least s.Dist.NumSPIs SPIs; SPIs beyond those
// are left disabled, inactive and not pending. Own's bits are never
// written, every interrupt is left in Group 1 (IGROUPR all ones), and
// GICD_CTLR's enable of Ferry's group stays set when own is not empty.
// The guest must not be running.
//
// Order: the guest's Group 1 off in the distributor; everything disabled;
// then groups, configuration, priorities and routing; pending and active
// state through the clear/set register pairs; then the enables and the
// control registers.
func (s *State) Restore(d, r Regs, own Owned) error {
	m, err := own.masks()
	if err != nil {
		return err
	}
	if err := s.Validate(); err != nil {
		return err
	}
	if err := s.checkFits(d); err != nil {
		return err
	}
	ctlr := d.Read32(GICD_CTLR)
	ferry := uint32(0)
	if m.any() {
		ferry = ferryEnable
	}
	d.Write32(GICD_CTLR, ctlr&CTLR_ARE|ctlr&ferry)
	if err := waitRWP(d, GICD_CTLR, CTLR_RWP, "GICD_CTLR"); err != nil {
		return err
	}
	if err := s.Dist.restore(d, m); err != nil {
		return err
	}
	if err := s.Redist.restore(r, m); err != nil {
		return err
	}
	d.Write32(GICD_CTLR, s.Dist.CTLR&(CTLR_EnableGrp0|CTLR_EnableGrp1|CTLR_ARE)|ferry|ctlr&CTLR_ARE)
	return waitRWP(d, GICD_CTLR, CTLR_RWP, "GICD_CTLR")
}

// checkFits refuses a state the destination GIC cannot hold.
func (s *State) checkFits(d Regs) error {
	typer := d.Read32(GICD_TYPER)
	if have := spisOf(typer); int(s.Dist.NumSPIs) > have {
		return fmt.Errorf("gic: Dist.NumSPIs is %d, the destination distributor has %d (GICD_TYPER %#x)", s.Dist.NumSPIs, have, typer)
	}
	if s.Dist.CTLR&CTLR_DS != 0 && d.Read32(GICD_CTLR)&CTLR_DS == 0 {
		return fmt.Errorf("gic: Dist.CTLR.DS: the source GIC had security disabled, the destination's has not")
	}
	return nil
}

func (ds *Dist) restore(d Regs, m ownMasks) error {
	n := int(ds.NumSPIs)
	total := spisOf(d.Read32(GICD_TYPER))
	own := func(base uint64, w int) uint32 { return m.dist[base+uint64(4*(w+1))] } // Ferry's bits of SPI word w
	for w := range words(total, 1) {
		d.Write32(GICD_ICENABLERn+uint64(4*(w+1)), ^own(GICD_ICENABLERn, w))
	}
	if err := waitRWP(d, GICD_CTLR, CTLR_RWP, "GICD_CTLR"); err != nil {
		return err
	}
	for w := range ds.Group {
		for _, r := range []struct {
			base uint64
			v    uint32
		}{{GICD_IGROUPRn, ds.Group[w]}, {GICD_IGRPMODRn, ds.GrpMod[w]}} {
			off := r.base + uint64(4*(w+1))
			v := keep(r.v, d.Read32(off), m.dist[off])
			if r.base == GICD_IGROUPRn {
				v = allGroup1
			}
			d.Write32(off, v)
		}
	}
	for w := range ds.Config {
		off := GICD_ICFGRn + uint64(4*(w+2))
		d.Write32(off, keep(ds.Config[w], d.Read32(off), m.dist[off]))
	}
	for i := 0; i < n; i += 4 {
		off := GICD_IPRIORITYRn + uint64(FirstSPI+i)
		v := uint32(ds.Priority[i]) | uint32(ds.Priority[i+1])<<8 | uint32(ds.Priority[i+2])<<16 | uint32(ds.Priority[i+3])<<24
		d.Write32(off, keep(v, d.Read32(off), m.dist[off]))
	}
	for i, v := range ds.Route {
		if !m.ownsSPI(uint32(FirstSPI + i)) {
			d.Write64(GICD_IROUTERn+uint64(8*(FirstSPI+i)), v)
		}
	}
	for w := range words(total, 1) {
		off := uint64(4 * (w + 1))
		var pend, act uint32
		if w < len(ds.Pending) {
			pend, act = ds.Pending[w], ds.Active[w]
		}
		mask := own(GICD_ISPENDRn, w)
		d.Write32(GICD_ICPENDRn+off, ^pend&^mask)
		d.Write32(GICD_ISPENDRn+off, pend&^mask)
		d.Write32(GICD_ICACTIVERn+off, ^act&^mask)
		d.Write32(GICD_ISACTIVERn+off, act&^mask)
	}
	for w, v := range ds.Enable {
		d.Write32(GICD_ISENABLERn+uint64(4*(w+1)), v&^own(GICD_ISENABLERn, w))
	}
	return nil
}

func (rs *Redist) restore(r Regs, m ownMasks) error {
	r.Write32(GICR_ICENABLER0, ^m.bits)
	if err := waitRWP(r, GICR_CTLR, GICR_CTLR_RWP, "GICR_CTLR"); err != nil {
		return err
	}
	r.Write32(GICR_IGROUPR0, allGroup1)
	r.Write32(GICR_IGRPMODR0, keep(rs.GrpMod, r.Read32(GICR_IGRPMODR0), m.bits))
	r.Write32(GICR_ICFGR1, keep(rs.Config[1], r.Read32(GICR_ICFGR1), m.cfg))
	for w := range 8 {
		off := GICR_IPRIORITYRn + uint64(4*w)
		p := rs.Priority[4*w : 4*w+4]
		v := uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24
		r.Write32(off, keep(v, r.Read32(off), m.prio[w]))
	}
	r.Write32(GICR_ICPENDR0, ^rs.Pending&^m.bits)
	r.Write32(GICR_ISPENDR0, rs.Pending&^m.bits)
	r.Write32(GICR_ICACTIVER0, ^rs.Active&^m.bits)
	r.Write32(GICR_ISACTIVER0, rs.Active&^m.bits)
	r.Write32(GICR_ISENABLER0, rs.Enable&^m.bits)
	r.Write32(GICR_CTLR, rs.CTLR)
	if !m.any() { // Ferry's own PPIs need the redistributor awake
		w := r.Read32(GICR_WAKER)
		r.Write32(GICR_WAKER, w&^WAKER_ProcessorSleep|rs.WAKER)
	}
	return nil
}

// waitRWP polls a register until bit clears, a bounded number of times:
// a GIC that never finishes is reported, never waited on forever.
func waitRWP(r Regs, off uint64, bit uint32, name string) error {
	for range idleCycles {
		if r.Read32(off)&bit == 0 {
			return nil
		}
	}
	return fmt.Errorf("gic: %s.RWP still set after %d reads", name, idleCycles)
}
