// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"fmt"
	"slices"
	"sync"

	"github.com/ferry-hv/ferry/mmio"
)

// Guard stands between the guest and the GIC pages its driver programs:
// GICD page 0 (GICD_CTLR ... GICD_IGRPMODR, offsets 0x000-0xFFF), the first
// page of the redistributor's SGI_base frame, and optionally the first page
// of RD_base (GICR_WAKER). Every guest access is performed on the real
// registers, except that Ferry's bits are protected:
//
//   - GICD_CTLR: the enable of Ferry's group (EnableGrp1) and ARE keep
//     their hardware value;
//   - GICR_IGROUPR0, GICD_IGROUPR<n>: every interrupt stays Non-secure
//     Group 1, Ferry's and the guest's (a guest interrupt made Group 0
//     would be an FIQ that Ferry, taking Group 1 IRQs, never acknowledges
//     -- a GIC with two Security states makes these registers Secure-only
//     anyway), and the guest reads its own as Group 1;
//   - GICR_IGRPMODR0: Ferry's PPIs stay as they are;
//   - GICR_IS/ICENABLER0, IS/ICPENDR0, IS/ICACTIVER0: Ferry's bits are
//     cleared from the written value, so the guest can neither enable,
//     disable, pend nor activate them;
//   - GICR_IPRIORITYR<n> (word or byte writes): Ferry's priority bytes stay;
//   - GICR_ICFGR1: Ferry's PPI fields stay;
//   - GICR_WAKER: ProcessorSleep stays clear (Ferry's interrupts need the
//     redistributor awake);
//   - for Ferry's SPIs, the same in the distributor: GICD_IGROUPR<n>,
//     GICD_IGRPMODR<n>, GICD_IS/ICENABLER<n>, IS/ICPENDR<n>,
//     IS/ICACTIVER<n>, GICD_IPRIORITYR<n> and GICD_ICFGR<n> keep Ferry's
//     bits; GICD_SETSPI_NSR/SR and GICD_CLRSPI_NSR/SR writes naming one
//     are dropped; and its GICD_IROUTER<n> (on a page of its own, RoutePages)
//     is never written.
//
// Reads hide Ferry's bits: they report them as the guest last wrote them
// (a shadow, initialised from the hardware when the Guard is made), pending
// and active as 0, and GICR_WAKER.ChildrenAsleep as the guest's
// ProcessorSleep. To the guest, Ferry's PPIs behave like unused interrupts
// of its own; its read-modify-writes and read-back checks see what they
// wrote. The shadow is guest state: Guard.Capture puts it into the State and
// Guard.Restore takes it back.
//
// Accesses the GIC architecture does not support on these pages (halfword,
// misaligned, 64-bit, bytes outside IPRIORITYR) read as zero and are
// ignored, and are logged once.
type Guard struct {
	// Log, if set, receives a line the first time each unsupported access
	// is seen.
	Log func(string)

	mu        sync.Mutex
	d, r      Regs
	own       Owned
	m         ownMasks
	view      view
	spiView   map[uint64]*uint32 // the guest's picture of Ferry's SPI bits, by GICD word offset (IROUTER halves included)
	rdGuarded bool
	notLast   bool // GICR_TYPER.Last reads clear (NotLast)
	logged    map[logKey]bool
	// prio caches the guest's priority bytes Priority read from the GIC,
	// for the interrupt path, which asks at every interrupt exit: an entry
	// is good while its generation is gen, which every write Ferry makes
	// through the Guard (a guest's store, Restore, SetupOwned) moves on.
	// Nothing else writes the GIC.
	prio    [FirstSPI + MaxSPIs]uint8
	prioGen [FirstSPI + MaxSPIs]uint64
	gen     uint64
}

// view is the guest's picture of Ferry's bits.
type view struct {
	grp1                  bool      // GICD_CTLR's enable of Ferry's group (ferryEnable)
	group, grpmod, enable uint32    // owned bits only
	prio                  [8]uint32 // owned byte lanes only
	cfg                   uint32    // owned ICFGR1 fields only
	sleep                 bool      // GICR_WAKER.ProcessorSleep
}

type logKey struct {
	page  string
	off   uint64
	size  int
	write bool
}

// NewGuard returns a Guard over the distributor d and the redistributor r
// (RD_base) protecting own. It takes the guest's initial view of Ferry's
// bits from the hardware as it is now, so make it before SetupOwned.
func NewGuard(d, r Regs, own Owned) (*Guard, error) {
	m, err := own.masks()
	if err != nil {
		return nil, err
	}
	g := &Guard{d: d, r: r, own: own, m: m, logged: map[logKey]bool{}, gen: 1}
	g.view = view{
		grp1:   d.Read32(GICD_CTLR)&ferryEnable != 0,
		group:  r.Read32(GICR_IGROUPR0) & m.bits,
		grpmod: r.Read32(GICR_IGRPMODR0) & m.bits,
		enable: r.Read32(GICR_ISENABLER0) & m.bits,
		cfg:    r.Read32(GICR_ICFGR1) & m.cfg,
		sleep:  r.Read32(GICR_WAKER)&WAKER_ProcessorSleep != 0,
	}
	for w := range g.view.prio {
		g.view.prio[w] = r.Read32(GICR_IPRIORITYRn+uint64(4*w)) & m.prio[w]
	}
	g.spiView = map[uint64]*uint32{}
	for off, mask := range m.dist {
		if spiShadowed(off) {
			v := d.Read32(off) & mask
			g.spiView[off] = &v
		}
	}
	for _, id := range m.spis {
		rt := d.Read64(routeOff(id)) & irouterFields
		lo, hi := uint32(rt), uint32(rt>>32)
		g.spiView[routeOff(id)], g.spiView[routeOff(id)+4] = &lo, &hi
	}
	return g, nil
}

// spiShadowed reports whether the distributor word at off (one with
// Ferry's SPI bits) keeps a guest view: the plain and set-enable
// registers do; clear-enable shares set-enable's; pending and active show
// Ferry's bits as 0.
func spiShadowed(off uint64) bool {
	switch regBase(off) {
	case GICD_IGROUPRn, GICD_IGRPMODRn, GICD_ISENABLERn, GICD_IPRIORITYRn, GICD_ICFGRn:
		return true
	}
	return false
}

// regBase is the start of the distributor register array holding word off.
func regBase(off uint64) uint64 {
	switch {
	case off >= GICD_IPRIORITYRn && off < GICD_ITARGETSRn:
		return GICD_IPRIORITYRn
	case off >= GICD_ICFGRn && off < GICD_IGRPMODRn:
		return GICD_ICFGRn
	case off >= GICD_IGRPMODRn && off < GICD_IGRPMODRn+0x80:
		return GICD_IGRPMODRn
	case off >= GICD_IGROUPRn && off < GICD_IPRIORITYRn:
		return off &^ 0x7f
	}
	return off
}

// SetupOwned programs Ferry's PPIs: see the function SetupOwned.
func (g *Guard) SetupOwned() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	return SetupOwned(g.d, g.r, g.own)
}

// SetupPrivate programs Ferry's SGIs and PPIs in the guard's
// redistributor alone: see the function SetupPrivate. It is another
// CPU's Guard (NotLast) once the boot CPU's SetupOwned ran.
func (g *Guard) SetupPrivate() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	return SetupPrivate(g.r, g.own)
}

// NotLast makes the guard's redistributor say it is not the last of its
// region (GICR_TYPER.Last clear), for a guest with a vCPU on a later
// frame too; by default it says it is.
func (g *Guard) NotLast() {
	g.mu.Lock()
	g.notLast = true
	g.mu.Unlock()
}

// DistPage is the device for GICD page 0 (GICD_base + 0x000-0xFFF).
func (g *Guard) DistPage() mmio.Device {
	return &page{g: g, name: "GICD", regs: g.d, base: 0, table: g.distTable(),
		bytes: [2]uint64{GICD_IPRIORITYRn, GICD_ITARGETSRn}}
}

// SGIPage is the device for the first page of the SGI_base frame
// (RD_base + 0x10000 + 0x000-0xFFF).
func (g *Guard) SGIPage() mmio.Device {
	return &page{g: g, name: "GICR SGI_base", regs: g.r, base: GICR_SGIBase, table: g.sgiTable(),
		bytes: [2]uint64{GICR_IPRIORITYRn - GICR_SGIBase, GICR_IPRIORITYRn - GICR_SGIBase + NumPrivate}}
}

// RoutePages are the devices for the distributor pages that hold the
// GICD_IROUTER<n> of Ferry's SPIs, by offset in the distributor frame (the
// page's GICD_base offset, e.g. 0x6000 for INTIDs 32-511). None without
// owned SPIs. Every other access on them is performed on the distributor.
func (g *Guard) RoutePages() map[uint64]mmio.Device {
	pages := map[uint64]mmio.Device{}
	for _, id := range g.m.spis {
		base := routeOff(id) &^ (pageSize - 1)
		if pages[base] == nil {
			pages[base] = &page{g: g, name: fmt.Sprintf("GICD+%#x", base), regs: g.d, base: base, table: g.routeTable(base), wide: true}
		}
	}
	return pages
}

// RDPage is the device for the first page of the RD_base frame
// (GICR_CTLR, GICR_TYPER, GICR_WAKER, ...). Trapping it is optional: it
// keeps a guest that puts its redistributor to sleep (Linux does on CPU
// power-down when GICD_CTLR.DS = 1) from stopping Ferry's interrupts. Once it is
// asked for, Guard.Capture reports the guest's ProcessorSleep from the
// shadow.
func (g *Guard) RDPage() mmio.Device {
	g.mu.Lock()
	g.rdGuarded = true
	g.mu.Unlock()
	return &page{g: g, name: "GICR RD_base", regs: g.r, base: 0, table: g.rdTable(), wide: true}
}

// Pend makes the guest's SPI intid pending (GICD_ISPENDR<n>, IHI 0069
// 12.9.24): for a device model whose device cannot raise its line for
// what the guest has still to see. Ferry's own SPIs are refused.
func (g *Guard) Pend(intid uint32) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if intid < FirstSPI || intid >= FirstSPI+MaxSPIs || slices.Contains(g.m.spis, intid) {
		return fmt.Errorf("gic: INTID %d is not a guest's SPI", intid)
	}
	g.d.Write32(GICD_ISPENDRn+4*uint64(intid/32), 1<<(intid%32))
	return nil
}

// Capture is the package's Capture with the guest's view of Ferry's bits
// put back in: the state of the GIC as the guest sees it.
func (g *Guard) Capture() (*State, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	s, err := Capture(g.d, g.r, g.own)
	if err != nil || !g.m.any() {
		return s, err
	}
	if g.view.grp1 {
		s.Dist.CTLR |= ferryEnable
	}
	g.redistView(&s.Redist)
	g.spiCapture(&s.Dist)
	return s, nil
}

// CaptureRedist is the package's CaptureRedist of the Guard's
// redistributor with the guest's view of Ferry's bits put back in (a
// Guard over another vCPU's frame: package hyp).
func (g *Guard) CaptureRedist() (*Redist, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	rs, err := CaptureRedist(g.r, g.own)
	if err != nil || !g.m.any() {
		return rs, err
	}
	g.redistView(rs)
	return rs, nil
}

// redistView puts the guest's view of Ferry's redistributor bits into rs.
func (g *Guard) redistView(rs *Redist) {
	v := &g.view
	rs.Group |= v.group
	rs.GrpMod |= v.grpmod
	rs.Enable |= v.enable
	rs.Config[1] |= v.cfg
	for w, lanes := range g.m.prio {
		for k := range 4 {
			if lanes>>(8*k)&0xff != 0 {
				rs.Priority[4*w+k] = uint8(v.prio[w] >> (8 * k))
			}
		}
	}
	if g.rdGuarded {
		rs.WAKER = 0
		if v.sleep {
			rs.WAKER = WAKER_ProcessorSleep
		}
	}
}

// Restore is State.Restore for the Guard's GIC and Owned, then the guest's
// view of Ferry's bits is taken from s.
func (g *Guard) Restore(s *State) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	if err := s.Restore(g.d, g.r, g.own); err != nil {
		return err
	}
	g.takeView(&s.Redist, s.Dist.CTLR&ferryEnable != 0)
	g.spiRestore(&s.Dist)
	return nil
}

// RestoreRedist is Redist.Restore for the Guard's redistributor, then
// the guest's view of Ferry's redistributor bits is taken from rs.
func (g *Guard) RestoreRedist(rs *Redist) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	if err := rs.Restore(g.r, g.own); err != nil {
		return err
	}
	g.takeView(rs, g.view.grp1)
	return nil
}

// takeView makes rs's bits of Ferry's, and grp1, the guest's view.
func (g *Guard) takeView(rs *Redist, grp1 bool) {
	m := &g.m
	g.view = view{
		grp1:   grp1,
		group:  rs.Group & m.bits,
		grpmod: rs.GrpMod & m.bits,
		enable: rs.Enable & m.bits,
		cfg:    rs.Config[1] & m.cfg,
		sleep:  rs.WAKER&WAKER_ProcessorSleep != 0,
	}
	for w := range g.view.prio {
		p := rs.Priority[4*w : 4*w+4]
		g.view.prio[w] = (uint32(p[0]) | uint32(p[1])<<8 | uint32(p[2])<<16 | uint32(p[3])<<24) & m.prio[w]
	}
}

// spiCapture puts the guest's view of Ferry's SPIs into ds.
func (g *Guard) spiCapture(ds *Dist) {
	for off, sh := range g.spiView {
		if off >= GICD_IROUTERn {
			continue
		}
		if v, ok := ds.wordAt(off); ok {
			ds.setWordAt(off, v|*sh)
		}
	}
	for _, id := range g.m.spis {
		if i := int(id - FirstSPI); i < len(ds.Route) {
			ds.Route[i] = (uint64(*g.spiView[routeOff(id)]) | uint64(*g.spiView[routeOff(id)+4])<<32) & irouterFields
		}
	}
}

// spiRestore takes the guest's view of Ferry's SPIs from ds (zero for
// SPIs the state does not hold).
func (g *Guard) spiRestore(ds *Dist) {
	for off, sh := range g.spiView {
		if off >= GICD_IROUTERn {
			continue
		}
		v, _ := ds.wordAt(off)
		*sh = v & g.m.dist[off]
	}
	for _, id := range g.m.spis {
		var rt uint64
		if i := int(id - FirstSPI); i < len(ds.Route) {
			rt = ds.Route[i]
		}
		*g.spiView[routeOff(id)], *g.spiView[routeOff(id)+4] = uint32(rt), uint32(rt>>32)
	}
}

func (g *Guard) warn(key logKey, format string, args ...any) {
	if g.logged[key] || g.Log == nil {
		return
	}
	g.logged[key] = true
	g.Log(fmt.Sprintf(format, args...))
}

// reg is one protected register: how a guest read and write of it are
// performed. off is the offset in the page's Regs (GICD_ or GICR_ constant).
type reg struct {
	name  string
	read  func(off uint64) uint32
	write func(off uint64, v uint32)
}

func (g *Guard) distTable() map[uint64]reg {
	d := g.d
	t := map[uint64]reg{
		GICD_CTLR: {"GICD_CTLR",
			func(off uint64) uint32 {
				v := d.Read32(off)
				if !g.m.any() {
					return v
				}
				v &^= ferryEnable
				if g.view.grp1 {
					v |= ferryEnable
				}
				return v
			},
			func(off uint64, v uint32) {
				if g.m.any() {
					g.view.grp1 = v&ferryEnable != 0
					v = keep(v, d.Read32(off), ferryEnable|CTLR_ARE)
				}
				d.Write32(off, v)
			}},
	}
	for w := 1; w < maxLines+1; w++ {
		off := GICD_IGROUPRn + uint64(4*w)
		t[off] = group1(fmt.Sprintf("GICD_IGROUPR%d", w), d, g.m.dist[off], g.spiShadow(off))
	}
	if len(g.m.spis) == 0 {
		return t
	}
	for _, off := range []uint64{GICD_SETSPI_NSR, GICD_CLRSPI_NSR, GICD_SETSPI_SR, GICD_CLRSPI_SR} {
		t[off] = reg{fmt.Sprintf("GICD+%#x", off), d.Read32, func(off uint64, v uint32) {
			if !g.m.ownsSPI(v & SETSPI_INTID) {
				d.Write32(off, v)
			}
		}}
	}
	for off, mask := range g.m.dist {
		name := fmt.Sprintf("GICD+%#x", off)
		switch base := regBase(off); base {
		case GICD_ISENABLERn:
			t[off] = enabler(name, d, mask, g.spiView[off], true)
		case GICD_ICENABLERn:
			t[off] = enabler(name, d, mask, g.spiView[off-GICD_ICENABLERn+GICD_ISENABLERn], false)
		case GICD_ISPENDRn, GICD_ICPENDRn, GICD_ISACTIVERn, GICD_ICACTIVERn:
			t[off] = reg{name,
				func(off uint64) uint32 { return d.Read32(off) &^ mask },
				func(off uint64, v uint32) { d.Write32(off, v&^mask) }}
		case GICD_IGROUPRn:
			// group1 above.
		default:
			t[off] = shadowed(name, d, mask, g.spiView[off])
		}
	}
	return t
}

// spiShadow is the guest's view of Ferry's SPI bits in the word at off, or
// a fresh zero when Ferry has none there.
func (g *Guard) spiShadow(off uint64) *uint32 {
	if sh := g.spiView[off]; sh != nil {
		return sh
	}
	return new(uint32)
}

// group1 is an IGROUPR register: every interrupt stays Group 1 (all ones
// written, whatever the guest wrote); the guest reads its own bits as 1
// and Ferry's as it last wrote them.
func group1(name string, r Regs, owned uint32, shadow *uint32) reg {
	return reg{name,
		func(off uint64) uint32 { return r.Read32(off)&^owned | *shadow },
		func(off uint64, v uint32) {
			*shadow = v & owned
			r.Write32(off, allGroup1)
		}}
}

// routeTable guards the GICD_IROUTER<n> of Ferry's SPIs on the page at
// base: both halves read the guest's view and writes go only there.
func (g *Guard) routeTable(base uint64) map[uint64]reg {
	t := map[uint64]reg{}
	for _, id := range g.m.spis {
		off := routeOff(id)
		if off&^(pageSize-1) != base {
			continue
		}
		for k, half := range []uint64{off, off + 4} {
			sh, fields := g.spiView[half], uint32(uint64(irouterFields)>>(32*k))
			t[half] = reg{fmt.Sprintf("GICD_IROUTER%d", id),
				func(uint64) uint32 { return *sh },
				func(_ uint64, v uint32) { *sh = v & fields }}
		}
	}
	return t
}

func (g *Guard) sgiTable() map[uint64]reg {
	r, m, v := g.r, &g.m, &g.view
	t := map[uint64]reg{
		GICR_IGROUPR0:   group1("GICR_IGROUPR0", r, m.bits, &v.group),
		GICR_IGRPMODR0:  shadowed("GICR_IGRPMODR0", r, m.bits, &v.grpmod),
		GICR_ICFGR1:     shadowed("GICR_ICFGR1", r, m.cfg, &v.cfg),
		GICR_ISENABLER0: enabler("GICR_ISENABLER0", r, m.bits, &v.enable, true),
		GICR_ICENABLER0: enabler("GICR_ICENABLER0", r, m.bits, &v.enable, false),
	}
	for _, p := range []struct {
		name string
		off  uint64
	}{{"GICR_ISPENDR0", GICR_ISPENDR0}, {"GICR_ICPENDR0", GICR_ICPENDR0},
		{"GICR_ISACTIVER0", GICR_ISACTIVER0}, {"GICR_ICACTIVER0", GICR_ICACTIVER0}} {
		t[p.off] = reg{p.name,
			func(off uint64) uint32 { return r.Read32(off) &^ m.bits },
			func(off uint64, val uint32) { r.Write32(off, val&^m.bits) }}
	}
	for w := range 8 {
		t[GICR_IPRIORITYRn+uint64(4*w)] = shadowed(fmt.Sprintf("GICR_IPRIORITYR%d", w), r, m.prio[w], &v.prio[w])
	}
	return t
}

func (g *Guard) rdTable() map[uint64]reg {
	r := g.r
	// The guest has no ITS (Ferry hides it) and so no use for LPIs; with
	// them on, the redistributor would read and write the tables at
	// whatever physical address the guest wrote -- Ferry's carve-out
	// included, past stage 2. EnableLPIs stays 0 and the table pointers
	// are not the guest's to write (docs/dma.md).
	noDMA := func(name string) reg {
		return reg{name, r.Read32, func(off uint64, v uint32) {
			g.warn(logKey{"GICR RD_base", off, 4, true}, "gic: guest write of %#x to %s ignored: the guest has no LPIs", v, name)
		}}
	}
	return map[uint64]reg{
		// The guest's last vCPU's redistributor is the last it may look
		// at: the other cores' frames are not the guest's (hyp.Describe
		// leaves them unmapped), and software walks a region's frames
		// until one says Last. GICR_TYPER is read-only: the guest's
		// writes go nowhere.
		GICR_TYPER: {"GICR_TYPER", func(off uint64) uint32 {
			if g.notLast {
				return r.Read32(off) &^ GICR_TYPER_Last
			}
			return r.Read32(off) | GICR_TYPER_Last
		}, func(uint64, uint32) {}},
		GICR_TYPER + 4: {"GICR_TYPER[63:32]", r.Read32, func(uint64, uint32) {}},
		GICR_CTLR: {"GICR_CTLR", r.Read32, func(off uint64, v uint32) {
			if v&GICR_CTLR_EnableLPIs != 0 {
				g.warn(logKey{"GICR RD_base", off, 4, true}, "gic: guest set GICR_CTLR.EnableLPIs: ignored, the guest has no LPIs")
			}
			r.Write32(off, v&^GICR_CTLR_EnableLPIs)
		}},
		GICR_PROPBASER:     noDMA("GICR_PROPBASER"),
		GICR_PROPBASER + 4: noDMA("GICR_PROPBASER[63:32]"),
		GICR_PENDBASER:     noDMA("GICR_PENDBASER"),
		GICR_PENDBASER + 4: noDMA("GICR_PENDBASER[63:32]"),
		GICR_WAKER: {"GICR_WAKER",
			func(off uint64) uint32 {
				v := r.Read32(off)
				if !g.m.any() {
					return v
				}
				v &^= WAKER_ProcessorSleep | WAKER_ChildrenAsleep
				if g.view.sleep {
					v |= WAKER_ProcessorSleep | WAKER_ChildrenAsleep
				}
				return v
			},
			func(off uint64, v uint32) {
				if g.m.any() {
					g.view.sleep = v&WAKER_ProcessorSleep != 0
					v = keep(v, r.Read32(off), WAKER_ProcessorSleep)
				}
				r.Write32(off, v)
			}},
	}
}

// shadowed is a plain read/write register some of whose bits (owned) are
// Ferry's: writes keep the hardware's owned bits and record the guest's in
// *shadow; reads show the shadow.
func shadowed(name string, r Regs, owned uint32, shadow *uint32) reg {
	return reg{name,
		func(off uint64) uint32 { return r.Read32(off)&^owned | *shadow },
		func(off uint64, v uint32) {
			*shadow = v & owned
			r.Write32(off, keep(v, r.Read32(off), owned))
		}}
}

// enabler is GICR_ISENABLER0 (set) or GICR_ICENABLER0: both read the enable
// state; writes lose the owned bits, which go to the shadow instead.
func enabler(name string, r Regs, owned uint32, shadow *uint32, set bool) reg {
	return reg{name,
		func(off uint64) uint32 { return r.Read32(off)&^owned | *shadow },
		func(off uint64, v uint32) {
			if set {
				*shadow |= v & owned
			} else {
				*shadow &^= v & owned
			}
			r.Write32(off, v&^owned)
		}}
}

// page is one trapped 4 KiB page: an mmio.Device.
type page struct {
	g     *Guard
	name  string
	regs  Regs
	base  uint64 // the page's offset in regs
	table map[uint64]reg
	bytes [2]uint64 // [start, end) of the byte-accessible priority bytes in the page
	wide  bool      // 64-bit registers live here (RD_base): 8-byte accesses pass through
}

func (p *page) supported(off uint64, size int) bool {
	if off >= pageSize || uint64(size) > pageSize-off || off%uint64(size) != 0 {
		return false
	}
	switch size {
	case 4:
		return true
	case 8:
		return p.wide
	case 1:
		return off >= p.bytes[0] && off < p.bytes[1]
	}
	return false
}

// Read performs a guest load from the page.
func (p *page) Read(off uint64, size int) uint64 {
	g := p.g
	g.mu.Lock()
	defer g.mu.Unlock()
	if !p.supported(off, size) {
		g.warn(logKey{p.name, off, size, false}, "gic: guest %d-byte read at %s+%#x not supported: reads as zero", size, p.name, off)
		return 0
	}
	switch {
	case size == 8 && p.protects(off):
		return uint64(p.read32(off)) | uint64(p.read32(off+4))<<32
	case size == 8:
		return p.regs.Read64(p.base + off)
	case size == 1:
		return uint64(p.read32(off&^3) >> (8 * (off & 3)) & 0xff)
	}
	return uint64(p.read32(off))
}

// Write performs a guest store to the page.
func (p *page) Write(off uint64, size int, v uint64) {
	g := p.g
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	if !p.supported(off, size) {
		g.warn(logKey{p.name, off, size, true}, "gic: guest %d-byte write of %#x at %s+%#x not supported: ignored", size, v, p.name, off)
		return
	}
	switch {
	case size == 8 && p.protects(off):
		p.write32(off, uint32(v))
		p.write32(off+4, uint32(v>>32))
	case size == 8:
		p.regs.Write64(p.base+off, v)
	case size == 1:
		// A priority byte: read-modify-write of its word through the
		// guard, so Ferry's bytes stay and the shadow keeps the others.
		shift := 8 * (off & 3)
		w := p.read32(off &^ 3)
		p.write32(off&^3, w&^(0xff<<shift)|uint32(v&0xff)<<shift)
	default:
		p.write32(off, uint32(v))
	}
}

// protects reports whether an 8-byte access at off covers a protected
// register (GICR_STATUSR and GICR_WAKER share a doubleword): such an
// access is performed as two guarded 32-bit ones, low word first.
func (p *page) protects(off uint64) bool {
	_, lo := p.table[p.base+off]
	_, hi := p.table[p.base+off+4]
	return lo || hi
}

func (p *page) read32(off uint64) uint32 {
	if h, ok := p.table[p.base+off]; ok {
		return h.read(p.base + off)
	}
	return p.regs.Read32(p.base + off)
}

func (p *page) write32(off uint64, v uint32) {
	if h, ok := p.table[p.base+off]; ok {
		h.write(p.base+off, v)
		return
	}
	p.regs.Write32(p.base+off, v)
}
