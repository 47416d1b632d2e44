// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
)

const (
	tick = 26 // Ferry's EL2 physical timer PPI
	nic  = 48 // Ferry's management NIC: QEMU virt's first virtio-mmio SPI (16)
	// ferryRoute targets Ferry's CPU (Aff1 1, Aff0 2: not the reset value).
	ferryRoute = 0x0102
)

// ferry is what Ferry owns on a GIC with no SPIs (PPI 26 only); ferryOn
// what it owns on one with spis SPIs (the NIC's SPI as well, once there).
var ferry = Owned{PPIs: []uint32{tick}}

func ferryOn(spis int) Owned {
	if spis < nic-FirstSPI+1 {
		return ferry
	}
	return Owned{PPIs: []uint32{tick}, SPIs: []uint32{nic}, Route: ferryRoute}
}

// guestGIC is how a guest reaches the trapped pages: offsets are within
// GICD page 0, the SGI_base page and the RD_base page.
type guestGIC interface {
	dw(off uint64, v uint32)
	dr(off uint64) uint32
	sw(off uint64, v uint32)
	sr(off uint64) uint32
	sb(off uint64, v uint8) // byte store
	rw(off uint64, v uint32)
	rr(off uint64) uint32
	iw(id uint32, v uint64) // GICD_IROUTER<id>, 64 bits
	ir(id uint32) uint64
}

// viaGuard goes through the Guard's pages, as mmio.Bus would; IROUTER
// pages the Guard does not trap go straight to d.
type viaGuard struct {
	dist, sgi, rd mmio.Device
	routes        map[uint64]mmio.Device
	d             Regs
}

func newViaGuard(g *Guard, d Regs) viaGuard {
	return viaGuard{g.DistPage(), g.SGIPage(), g.RDPage(), g.RoutePages(), d}
}

func (g viaGuard) iw(id uint32, v uint64) {
	if p := g.routes[routeOff(id)&^(pageSize-1)]; p != nil {
		p.Write(routeOff(id)%pageSize, 8, v)
		return
	}
	g.d.Write64(routeOff(id), v)
}

func (g viaGuard) ir(id uint32) uint64 {
	if p := g.routes[routeOff(id)&^(pageSize-1)]; p != nil {
		return p.Read(routeOff(id)%pageSize, 8)
	}
	return g.d.Read64(routeOff(id))
}

func (g viaGuard) dw(off uint64, v uint32) { g.dist.Write(off, 4, uint64(v)) }
func (g viaGuard) dr(off uint64) uint32    { return uint32(g.dist.Read(off, 4)) }
func (g viaGuard) sw(off uint64, v uint32) { g.sgi.Write(off, 4, uint64(v)) }
func (g viaGuard) sr(off uint64) uint32    { return uint32(g.sgi.Read(off, 4)) }
func (g viaGuard) sb(off uint64, v uint8)  { g.sgi.Write(off, 1, uint64(v)) }
func (g viaGuard) rw(off uint64, v uint32) { g.rd.Write(off, 4, uint64(v)) }
func (g viaGuard) rr(off uint64) uint32    { return uint32(g.rd.Read(off, 4)) }

// direct is the GIC with no Guard: what the guest would get on its own.
type direct struct{ d, r Regs }

func (g direct) dw(off uint64, v uint32) { g.d.Write32(off, v) }
func (g direct) dr(off uint64) uint32    { return g.d.Read32(off) }
func (g direct) sw(off uint64, v uint32) { g.r.Write32(GICR_SGIBase+off, v) }
func (g direct) sr(off uint64) uint32    { return g.r.Read32(GICR_SGIBase + off) }
func (g direct) sb(off uint64, v uint8) {
	w, sh := off&^3, 8*(off&3)
	g.sw(w, g.sr(w)&^(0xff<<sh)|uint32(v)<<sh)
}
func (g direct) rw(off uint64, v uint32) { g.r.Write32(off, v) }
func (g direct) rr(off uint64) uint32    { return g.r.Read32(off) }
func (g direct) iw(id uint32, v uint64)  { g.d.Write64(routeOff(id), v) }
func (g direct) ir(id uint32) uint64     { return g.d.Read64(routeOff(id)) }

// sgi is an SGI_base-page offset from a GICR_ constant.
func sgi(off uint64) uint64 { return off - GICR_SGIBase }

// linuxBoot replays what Linux's GICv3 driver (drivers/irqchip/irq-gic-v3.c
// and irq-gic-common.c) writes at boot on one CPU, old and new kernels,
// then what the arch timer and IPI set-up write.
func linuxBoot(g guestGIC, spis int) {
	// gic_enable_redist(true)
	g.rw(GICR_WAKER, g.rr(GICR_WAKER)&^WAKER_ProcessorSleep)
	for range 10 {
		if g.rr(GICR_WAKER)&WAKER_ChildrenAsleep == 0 {
			break
		}
	}
	// gic_dist_init
	g.dw(GICD_CTLR, 0)
	g.dr(GICD_CTLR) // gic_dist_wait_for_rwp
	for i := 32; i < 32+spis; i += 32 {
		g.dw(GICD_IGROUPRn+uint64(i/8), ^uint32(0))
	}
	for i := 32; i < 32+spis; i += 16 { // gic_dist_config
		g.dw(GICD_ICFGRn+uint64(i/4), 0)
	}
	for i := 32; i < 32+spis; i += 4 {
		g.dw(GICD_IPRIORITYRn+uint64(i), 0xa0a0a0a0)
	}
	for i := 32; i < 32+spis; i += 32 {
		g.dw(GICD_ICACTIVERn+uint64(i/8), ^uint32(0))
		g.dw(GICD_ICENABLERn+uint64(i/8), ^uint32(0))
	}
	g.dw(GICD_CTLR, 0x13) // ARE_NS | ENABLE_G1A | ENABLE_G1
	g.dr(GICD_CTLR)
	for i := uint32(32); i < 32+uint32(spis); i++ { // every SPI to the boot CPU (Aff 0)
		g.iw(i, 0)
	}
	// gic_cpu_init + gic_cpu_config
	g.sw(sgi(GICR_IGROUPR0), ^uint32(0))
	g.sw(sgi(GICR_ICACTIVER0), ^uint32(0))
	g.sw(sgi(GICR_ICENABLER0), ^uint32(0))
	for i := range uint64(8) {
		g.sw(sgi(GICR_IPRIORITYRn)+4*i, 0xa0a0a0a0)
	}
	// before v5.10: disable the PPIs, enable the SGIs
	g.sw(sgi(GICR_ICENABLER0), 0xffff0000)
	g.sw(sgi(GICR_ISENABLER0), 0x0000ffff)
	g.sw(sgi(GICR_ICENABLER0), 0x0000ffff)
	// arch timer: PPI 27 level-sensitive (gic_configure_irq), then enabled
	v := g.sr(sgi(GICR_ICFGR1))
	g.sw(sgi(GICR_ICFGR1), v&^(2<<(2*(27-16))))
	g.sr(sgi(GICR_ICFGR1))
	g.sw(sgi(GICR_ISENABLER0), 1<<27)
	// IPIs: SGIs 0-7 enabled
	g.sw(sgi(GICR_ISENABLER0), 0xff)
	// an SPI (the UART, SPI 1 = INTID 33): edge, enabled
	g.dw(GICD_ICFGRn+8, g.dr(GICD_ICFGRn+8)|2<<2)
	g.dw(GICD_ISENABLERn+4, 1<<1)
}

// hostile is a guest that goes after PPI 26 by every register.
func hostile(g guestGIC) {
	bit := uint32(1) << tick
	g.sw(sgi(GICR_ISENABLER0), bit)
	g.sw(sgi(GICR_ICENABLER0), bit)
	g.sw(sgi(GICR_ISPENDR0), bit|1<<28)
	g.sw(sgi(GICR_ICPENDR0), bit)
	g.sw(sgi(GICR_ISACTIVER0), bit)
	g.sw(sgi(GICR_ICACTIVER0), bit)
	g.sw(sgi(GICR_IGRPMODR0), ^uint32(0))
	g.sb(sgi(GICR_IPRIORITYRn)+tick, 0x80) // gic_irq_set_prio is a byte write
	g.sb(sgi(GICR_IPRIORITYRn)+27, 0x90)
	g.sw(sgi(GICR_ICFGR1), g.sr(sgi(GICR_ICFGR1))|2<<(2*(tick-16))) // edge
	g.dw(GICD_CTLR, 0x12)                                           // Group 0 off
	g.dw(GICD_CTLR, 0x10)                                           // Group 1 off: Ferry's
	g.dw(GICD_CTLR, 0x02)
	g.rw(GICR_WAKER, WAKER_ProcessorSleep) // CPU PM: redistributor to sleep
}

// hostileSPI goes after the NIC's SPI by every distributor register.
func hostileSPI(g guestGIC) {
	w, bit := uint64(4*(nic/32)), uint32(1)<<(nic%32)
	for _, base := range []uint64{GICD_ICENABLERn, GICD_ISPENDRn, GICD_ICPENDRn, GICD_ISACTIVERn, GICD_ICACTIVERn} {
		g.dw(base+w, bit)
	}
	g.dw(GICD_IGROUPRn+w, ^uint32(0))
	g.dw(GICD_IGRPMODRn+w, ^uint32(0))
	g.dw(GICD_IPRIORITYRn+nic, 0xf0f0f0f0)
	g.dw(GICD_ICFGRn+4*(nic/16), ^uint32(0)) // edge
	g.dw(GICD_SETSPI_NSR, nic)
	g.dw(GICD_CLRSPI_NSR, nic)
	g.dw(GICD_SETSPI_SR, nic)
	g.dw(GICD_CLRSPI_SR, nic)
	g.iw(nic, IROUTER_IRM)         // to any CPU
	g.iw(nic, 0xff_0000_0000|0x77) // to a CPU that is not Ferry's
}

// owned masks per register offset (from the Regs base) of Ferry's bits,
// on a GIC with an SPI for the NIC.
func ownedMasks() (dist, redist map[uint64]uint32) {
	bit := uint32(1) << tick
	dist = map[uint64]uint32{GICD_CTLR: CTLR_EnableGrp1,
		GICD_IPRIORITYRn + nic&^3: 0xff << (8 * (nic % 4)),
		GICD_ICFGRn + 4*(nic/16):  3 << (2 * (nic % 16)),
	}
	for _, base := range distBitmaps {
		dist[base+4*(nic/32)] = 1 << (nic % 32)
	}
	redist = map[uint64]uint32{
		GICR_IGROUPR0: bit, GICR_IGRPMODR0: bit, GICR_ISENABLER0: bit, GICR_ICENABLER0: bit,
		GICR_ISPENDR0: bit, GICR_ICPENDR0: bit, GICR_ISACTIVER0: bit, GICR_ICACTIVER0: bit,
		GICR_IPRIORITYRn + tick&^3: 0xff << (8 * (tick % 4)),
		GICR_ICFGR1:                3 << (2 * (tick - 16)),
		GICR_WAKER:                 WAKER_ProcessorSleep | WAKER_ChildrenAsleep,
	}
	return dist, redist
}

// ferryValues is what Ferry's bits hold after SetupOwned.
var ferryValues = map[uint64]uint32{
	GICD_CTLR: CTLR_EnableGrp1, GICR_IGROUPR0: 1 << tick, GICR_IGRPMODR0: 0,
	GICD_IGROUPRn + 4*(nic/32): 1 << (nic % 32),
	GICR_ISENABLER0:            1 << tick, GICR_ICENABLER0: 1 << tick,
	GICR_ISPENDR0: 0, GICR_ICPENDR0: 0, GICR_ISACTIVER0: 0, GICR_ICACTIVER0: 0,
	GICR_IPRIORITYRn + tick&^3: OwnedPriority << (8 * (tick % 4)),
	GICR_ICFGR1:                0, GICR_WAKER: 0,
	GICD_ISENABLERn + 4*(nic/32): 1 << (nic % 32), GICD_ICENABLERn + 4*(nic/32): 1 << (nic % 32),
	GICD_IPRIORITYRn + nic&^3: OwnedPriority << (8 * (nic % 4)),
}

// pageOffsets are the 32-bit registers of the three trapped pages, as
// offsets from their Regs base.
func pageOffsets() (dist, redist []uint64) {
	for off := uint64(0); off < pageSize; off += 4 {
		dist = append(dist, off)
		redist = append(redist, off, GICR_SGIBase+off)
	}
	return dist, redist
}

func setupGuard(t *testing.T, spis int) (*Fake, *Guard, viaGuard) {
	t.Helper()
	f := NewFake(spis)
	g, err := NewGuard(f.Dist(), f.Redist(), ferryOn(spis))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	return f, g, newViaGuard(g, f.Dist())
}

func TestSetupOwned(t *testing.T) {
	f, _, _ := setupGuard(t, 224)
	d, r := f.Dist(), f.Redist()
	bit := uint32(1) << tick
	switch {
	case r.Read32(GICR_IGROUPR0)&bit == 0, r.Read32(GICR_IGRPMODR0)&bit != 0:
		t.Error("PPI 26 not in Non-secure Group 1")
	case r.Read32(GICR_ISENABLER0) != bit:
		t.Errorf("ISENABLER0 %#x, want only PPI 26", r.Read32(GICR_ISENABLER0))
	case r.Read32(GICR_IPRIORITYRn+24) != OwnedPriority<<16:
		t.Errorf("IPRIORITYR6 %#x", r.Read32(GICR_IPRIORITYRn+24))
	case r.Read32(GICR_ICFGR1)&(3<<20) != 0:
		t.Error("PPI 26 not level-sensitive")
	case r.Read32(GICR_WAKER) != 0:
		t.Errorf("WAKER %#x: redistributor asleep", r.Read32(GICR_WAKER))
	case d.Read32(GICD_CTLR) != CTLR_EnableGrp1|CTLR_ARE|CTLR_DS:
		t.Errorf("GICD_CTLR %#x", d.Read32(GICD_CTLR))
	}
	spi := uint32(1) << (nic % 32)
	switch w := uint64(4 * (nic / 32)); {
	case d.Read32(GICD_IGROUPRn+w)&spi == 0, d.Read32(GICD_IGRPMODRn+w)&spi != 0:
		t.Error("SPI 48 not in Non-secure Group 1")
	case d.Read32(GICD_ISENABLERn+w) != spi:
		t.Errorf("GICD_ISENABLER1 %#x, want only INTID 48", d.Read32(GICD_ISENABLERn+w))
	case d.Read32(GICD_IPRIORITYRn+nic) != OwnedPriority:
		t.Errorf("GICD_IPRIORITYR12 %#x", d.Read32(GICD_IPRIORITYRn+nic))
	case d.Read32(GICD_ICFGRn+4*(nic/16))&3 != 0:
		t.Error("SPI 48 not level-sensitive")
	case d.Read64(routeOff(nic)) != ferryRoute:
		t.Errorf("GICD_IROUTER48 %#x, want %#x", d.Read64(routeOff(nic)), ferryRoute)
	}
	// An owned SGI (the kick between Ferry's CPUs) is Group 1 and enabled
	// too; the guest cannot disable it.
	g := NewFake(32)
	own := Owned{SGIs: []uint32{7}, PPIs: []uint32{tick}}
	guard, err := NewGuard(g.Dist(), g.Redist(), own)
	if err != nil {
		t.Fatal(err)
	}
	if err := guard.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	if got := g.Redist().Read32(GICR_ISENABLER0); got != 1<<7|bit || g.Redist().Read32(GICR_IGROUPR0)&(1<<7) == 0 || g.Redist().Read32(GICR_IPRIORITYRn+4)>>24 != OwnedPriority {
		t.Errorf("owned SGI 7: ISENABLER0 %#x, IGROUPR0 %#x, IPRIORITYR1 %#x", got, g.Redist().Read32(GICR_IGROUPR0), g.Redist().Read32(GICR_IPRIORITYRn+4))
	}
	guard.SGIPage().Write(GICR_ICENABLER0, 4, 0xffff)
	if g.Redist().Read32(GICR_ISENABLER0)&(1<<7) == 0 {
		t.Error("the guest disabled the owned SGI 7")
	}
	// An SPI the distributor does not have is refused.
	small := NewFake(32)
	if err := SetupOwned(small.Dist(), small.Redist(), Owned{SPIs: []uint32{64}}); err == nil || !strings.Contains(err.Error(), "SPI 64") {
		t.Errorf("SetupOwned of SPI 64 on a GIC with INTIDs up to 63: %v", err)
	}
}

// TestGuardLinuxBoot replays Linux's boot writes and a hostile guest, once
// through the Guard and once on a bare GIC, and compares every register
// of the three pages: the hardware must differ only in Ferry's bits, which
// keep Ferry's values; what the guest reads through the Guard must equal
// what it would read on a bare GIC, except that Ferry's PPI never shows
// pending or active.
func TestGuardLinuxBoot(t *testing.T) {
	const spis = 224
	for _, name := range []string{"linux", "linux+hostile"} {
		t.Run(name, func(t *testing.T) {
			f, _, guest := setupGuard(t, spis)
			bare := NewFake(spis)
			ref := direct{bare.Dist(), bare.Redist()}
			for _, g := range []guestGIC{guest, ref} {
				linuxBoot(g, spis)
				if name == "linux+hostile" {
					hostile(g)
					hostileSPI(g)
				}
			}
			compareHardware(t, f, bare)
			compareGuestView(t, guest, ref)

			// The headline facts, spelled out.
			r := f.Redist()
			bit := uint32(1) << tick
			if r.Read32(GICR_IGROUPR0)&bit == 0 || r.Read32(GICR_ISENABLER0)&bit == 0 ||
				r.Read32(GICR_IPRIORITYRn+24)>>16&0xff != OwnedPriority || f.Dist().Read32(GICD_CTLR)&CTLR_EnableGrp1 == 0 {
				t.Fatal("PPI 26 lost: group, enable, priority or EnableGrp1 changed")
			}
			if r.Read32(GICR_IGROUPR0) != ^uint32(0) || r.Read32(GICR_ISENABLER0) != bit|1<<27|0xff {
				t.Fatalf("guest's bits: IGROUPR0 %#x ISENABLER0 %#x", r.Read32(GICR_IGROUPR0), r.Read32(GICR_ISENABLER0))
			}
			d, spi := f.Dist(), uint32(1)<<(nic%32)
			if d.Read32(GICD_IGROUPRn+4)&spi == 0 || d.Read32(GICD_ISENABLERn+4)&spi == 0 ||
				d.Read32(GICD_IPRIORITYRn+nic)&0xff != OwnedPriority || d.Read32(GICD_ICFGRn+12)&3 != 0 {
				t.Fatal("SPI 48 lost: group, enable, priority or configuration changed")
			}
			// Its route is Ferry's; the guest reads what it wrote, and
			// every other SPI's route is the guest's.
			for i := uint32(FirstSPI); i < FirstSPI+spis; i++ {
				if i == nic {
					if got := d.Read64(routeOff(i)); got != ferryRoute {
						t.Errorf("GICD_IROUTER48 = %#x, want Ferry's %#x", got, ferryRoute)
					}
				} else if got, want := d.Read64(routeOff(i)), bare.Dist().Read64(routeOff(i)); got != want {
					t.Errorf("GICD_IROUTER%d = %#x, the guest wrote %#x", i, got, want)
				}
				if got, want := guest.ir(i), ref.ir(i); got != want {
					t.Errorf("guest reads GICD_IROUTER%d = %#x, a bare GIC gives %#x", i, got, want)
				}
			}
			for _, w := range f.Writes {
				if w.Frame == "GICD" && w.Off >= GICD_SETSPI_NSR && w.Off <= GICD_CLRSPI_SR && w.Val == nic {
					t.Errorf("%v reached the distributor: the guest set or cleared Ferry's SPI pending", w)
				}
			}
		})
	}
}

func compareHardware(t *testing.T, f, bare *Fake) {
	t.Helper()
	dm, rm := ownedMasks()
	doffs, roffs := pageOffsets()
	check := func(frame string, off uint64, got, want uint32, masks map[uint64]uint32) {
		m := masks[off]
		if got&^m != want&^m {
			t.Errorf("%s+%#x = %#x, the guest wrote %#x (outside Ferry's bits %#x)", frame, off, got, want, m)
		}
		if got&m != ferryValues[off]&m {
			t.Errorf("%s+%#x = %#x: Ferry's bits %#x changed (want %#x)", frame, off, got, m, ferryValues[off]&m)
		}
	}
	for _, off := range doffs {
		check("GICD", off, f.Dist().Read32(off), bare.Dist().Read32(off), dm)
	}
	for _, off := range roffs {
		check("GICR", off, f.Redist().Read32(off), bare.Redist().Read32(off), rm)
	}
}

func compareGuestView(t *testing.T, guest viaGuard, ref direct) {
	t.Helper()
	bit := uint32(1) << tick
	hidden := map[uint64]uint32{GICR_ISPENDR0: bit, GICR_ICPENDR0: bit, GICR_ISACTIVER0: bit, GICR_ICACTIVER0: bit}
	for _, base := range []uint64{GICD_ISPENDRn, GICD_ICPENDRn, GICD_ISACTIVERn, GICD_ICACTIVERn} {
		hidden[base+4*(nic/32)] = 1 << (nic % 32)
	}
	for off := uint64(0); off < pageSize; off += 4 {
		if got, want := guest.dr(off), ref.dr(off); got != want&^hidden[off] || got&hidden[off] != 0 {
			t.Errorf("guest reads GICD+%#x = %#x, a bare GIC gives %#x (Ferry's pending/active hidden: %#x)", off, got, want, hidden[off])
		}
		m := hidden[GICR_SGIBase+off]
		if got, want := guest.sr(off), ref.sr(off); got != want&^m || got&m != 0 {
			t.Errorf("guest reads SGI_base+%#x = %#x, a bare GIC gives %#x (Ferry's pending/active hidden: %#x)", off, got, want, m)
		}
		// The guest's redistributor is the last it sees (GICR_TYPER.Last).
		last := map[uint64]uint32{GICR_TYPER: GICR_TYPER_Last}[off]
		if got, want := guest.rr(off), ref.rr(off); got != want|last {
			t.Errorf("guest reads RD_base+%#x = %#x, a bare GIC gives %#x (and %#x set)", off, got, want, last)
		}
	}
	// Byte reads of priorities agree too.
	for i := range uint64(32) {
		if got, want := guest.sgi.Read(sgi(GICR_IPRIORITYRn)+i, 1), uint64(ref.sr(sgi(GICR_IPRIORITYRn)+i&^3)>>(8*(i&3))&0xff); got != want {
			t.Errorf("priority byte %d reads %#x, want %#x", i, got, want)
		}
	}
}

func TestGuardUnsupported(t *testing.T) {
	f, g, guest := setupGuard(t, 64)
	var logs []string
	g.Log = func(s string) { logs = append(logs, s) }
	before := len(f.Writes)
	cases := []struct {
		dev  mmio.Device
		off  uint64
		size int
	}{
		{guest.sgi, sgi(GICR_ISENABLER0), 2},     // halfword
		{guest.sgi, sgi(GICR_ISENABLER0), 8},     // 64-bit on a 32-bit page
		{guest.sgi, sgi(GICR_ISENABLER0), 1},     // byte outside IPRIORITYR
		{guest.sgi, sgi(GICR_ISENABLER0) + 2, 4}, // misaligned
		{guest.dist, 0xffc, 8},                   // past the page
		{guest.dist, 0x1000, 4},                  // outside the page
		{guest.dist, GICD_CTLR, 3},               // not a size
	}
	for _, c := range cases {
		for range 2 {
			c.dev.Write(c.off, c.size, ^uint64(0))
			if v := c.dev.Read(c.off, c.size); v != 0 {
				t.Errorf("%d-byte read at %#x = %#x, want 0", c.size, c.off, v)
			}
		}
	}
	if len(f.Writes) != before {
		t.Errorf("unsupported accesses reached the hardware: %v", f.Writes[before:])
	}
	if len(logs) != 2*len(cases) { // one read and one write line each, not repeated
		t.Errorf("%d log lines, want %d:\n%s", len(logs), 2*len(cases), strings.Join(logs, "\n"))
	}
	// A 64-bit store over GICR_STATUSR and GICR_WAKER cannot put the
	// redistributor to sleep.
	guest.rd.Write(GICR_WAKER&^7, 8, uint64(WAKER_ProcessorSleep)<<32)
	if f.Redist().Read32(GICR_WAKER)&WAKER_ProcessorSleep != 0 {
		t.Error("a 64-bit write put the redistributor to sleep")
	}
	if v := guest.rd.Read(GICR_WAKER&^7, 8); v>>32 != WAKER_ProcessorSleep|WAKER_ChildrenAsleep {
		t.Errorf("64-bit read of WAKER = %#x: want the guest's view", v)
	}
	// The RD page passes other 64-bit accesses (GICR_SETLPIR, 0x40, is
	// 64 bits).
	guest.rd.Write(0x40, 8, 0x1234)
	if w := f.Writes[len(f.Writes)-1]; w.Off != 0x40 || w.Val != 0x1234 {
		t.Errorf("64-bit write to GICR_SETLPIR not forwarded: %v", w)
	}
}

func TestOwnedValidation(t *testing.T) {
	f := NewFake(32)
	for _, tc := range []struct {
		own  Owned
		want string
	}{
		{Owned{PPIs: []uint32{15}}, "Owned.PPIs[0] = 15: not a PPI"},
		{Owned{PPIs: []uint32{26, 32}}, "Owned.PPIs[1] = 32: not a PPI"},
		{Owned{PPIs: []uint32{26, 26}}, "Owned.PPIs[1] = 26: listed twice"},
		{Owned{SPIs: []uint32{31}}, "Owned.SPIs[0] = 31: not an SPI"},
		{Owned{SPIs: []uint32{48, 1020}}, "Owned.SPIs[1] = 1020: not an SPI"},
		{Owned{SPIs: []uint32{48, 48}}, "Owned.SPIs[1] = 48: listed twice"},
		{Owned{SGIs: []uint32{16}}, "Owned.SGIs[0] = 16: not an SGI"},
		{Owned{SGIs: []uint32{7, 7}}, "Owned.SGIs[1] = 7: listed twice"},
	} {
		if _, err := NewGuard(f.Dist(), f.Redist(), tc.own); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.own, err, tc.want)
		}
	}
}

// secure is a distributor whose GICD_CTLR.DS reads 0.
type secure struct{ Regs }

func (s secure) Read32(off uint64) uint32 {
	v := s.Regs.Read32(off)
	if off == GICD_CTLR {
		v &^= CTLR_DS
	}
	return v
}

func TestNoOwnedIsPassThrough(t *testing.T) {
	f := NewFake(32)
	g, err := NewGuard(f.Dist(), f.Redist(), Owned{})
	if err != nil {
		t.Fatal(err)
	}
	bare := NewFake(32)
	guest := newViaGuard(g, f.Dist())
	ref := direct{bare.Dist(), bare.Redist()}
	for _, gg := range []guestGIC{guest, ref} {
		linuxBoot(gg, 32)
		hostile(gg)
		hostileSPI(gg)
	}
	if len(g.RoutePages()) != 0 {
		t.Error("a Guard with no SPIs traps IROUTER pages")
	}
	doffs, roffs := pageOffsets()
	for _, off := range doffs {
		if a, b := f.Dist().Read32(off), bare.Dist().Read32(off); a != b {
			t.Errorf("GICD+%#x: %#x vs %#x", off, a, b)
		}
	}
	for _, off := range roffs {
		if a, b := f.Redist().Read32(off), bare.Redist().Read32(off); a != b {
			t.Errorf("GICR+%#x: %#x vs %#x", off, a, b)
		}
	}
}

func ExampleGuard() {
	f := NewFake(224) // in Ferry: gic.NewMMIO(board.GICD.Base, 0x10000), gic.NewMMIO(board.GICR.Base, 0x20000)
	g, _ := NewGuard(f.Dist(), f.Redist(), Owned{PPIs: []uint32{26}})
	if err := g.SetupOwned(); err != nil {
		panic(err)
	}
	var bus mmio.Bus
	const gicd, gicr = 0x0800_0000, 0x080a_0000
	fmt.Println(bus.Add(gicd, pageSize, g.DistPage()), bus.Add(gicr+GICR_SGIBase, pageSize, g.SGIPage()))
	// Output: <nil> <nil>
}

// The guest cannot turn LPIs on or point the redistributor's LPI tables
// anywhere: with them the GIC would read and write memory at an address
// of the guest's choosing, past stage 2.
func TestGuardNoLPIs(t *testing.T) {
	f, _, guest := setupGuard(t, 64)
	before := len(f.Writes)
	guest.rd.Write(GICR_CTLR, 4, GICR_CTLR_EnableLPIs|GICR_CTLR_DPG1NS)
	guest.rd.Write(GICR_PROPBASER, 8, 0x4000_0000|0xf)
	guest.rd.Write(GICR_PENDBASER, 4, 0x4010_0000)
	guest.rd.Write(GICR_PENDBASER+4, 4, 0)
	if f.Redist().Read32(GICR_CTLR)&GICR_CTLR_EnableLPIs != 0 {
		t.Error("EnableLPIs reached the redistributor")
	}
	if f.Redist().Read32(GICR_CTLR)&GICR_CTLR_DPG1NS == 0 {
		t.Error("the rest of the guest's GICR_CTLR write was lost")
	}
	for _, w := range f.Writes[before:] {
		if w.Off >= GICR_PROPBASER && w.Off < GICR_PENDBASER+8 {
			t.Errorf("an LPI table pointer reached the redistributor: %v", w)
		}
	}
}

// A device model makes a guest's SPI pending; Ferry's own, and INTIDs
// that are no SPI, it cannot.
func TestGuardPend(t *testing.T) {
	f := NewFake(64)
	g, err := NewGuard(f.Dist(), f.Redist(), ferryOn(64))
	if err != nil {
		t.Fatal(err)
	}
	const guestNIC = 47
	if err := g.Pend(guestNIC); err != nil {
		t.Fatal(err)
	}
	if got := f.Dist().Read32(GICD_ISPENDRn + 4); got != 1<<(guestNIC%32) {
		t.Fatalf("GICD_ISPENDR1 = %#x", got)
	}
	for _, id := range []uint32{nic, tick, 5, 1020} {
		if err := g.Pend(id); err == nil {
			t.Errorf("INTID %d made pending", id)
		}
	}
	if got := f.Dist().Read32(GICD_ISPENDRn + 4); got != 1<<(guestNIC%32) {
		t.Fatalf("GICD_ISPENDR1 = %#x after the refusals", got)
	}
}

// TestSetupPrivate: another CPU's redistributor gets Ferry's SGI and PPIs
// and is woken, the distributor untouched; its guard says its frame is not
// the last when told so.
func TestSetupPrivate(t *testing.T) {
	other := NewFake(32)
	own := Owned{SGIs: []uint32{7}, PPIs: []uint32{tick}, SPIs: []uint32{nic}}
	g, err := NewGuard(other.Dist(), other.Redist(), own)
	if err != nil {
		t.Fatal(err)
	}
	ctlr := other.Dist().Read32(GICD_CTLR)
	if err := g.SetupPrivate(); err != nil {
		t.Fatal(err)
	}
	r := other.Redist()
	if got := r.Read32(GICR_ISENABLER0); got != 1<<7|1<<tick || r.Read32(GICR_WAKER)&WAKER_ProcessorSleep != 0 {
		t.Errorf("ISENABLER0 %#x, WAKER %#x", got, r.Read32(GICR_WAKER))
	}
	if w := uint64(4 * (nic / 32)); other.Dist().Read32(GICD_ISENABLERn+w) != 0 || other.Dist().Read32(GICD_CTLR) != ctlr {
		t.Error("SetupPrivate touched the distributor")
	}
	rd := g.RDPage()
	if rd.Read(GICR_TYPER, 4)&GICR_TYPER_Last == 0 {
		t.Error("a guard's frame is the last by default")
	}
	g.NotLast()
	if rd.Read(GICR_TYPER, 4)&GICR_TYPER_Last != 0 {
		t.Error("NotLast: GICR_TYPER.Last still set")
	}
}

// typerRegs is a redistributor whose GICR_TYPER reads typer.
type typerRegs struct {
	Regs
	typer uint64
}

func (r typerRegs) Read64(off uint64) uint64 {
	if off == GICR_TYPER {
		return r.typer
	}
	return r.Regs.Read64(off)
}

// TestFrameAffinity: GICR_TYPER's Aff3.Aff2.Aff1.Aff0 in MPIDR_EL1's
// layout.
func TestFrameAffinity(t *testing.T) {
	r := typerRegs{NewFake(32).Redist(), 0x01020304_00000010}
	if got := FrameAffinity(r); got != 0x01_00020304 {
		t.Errorf("FrameAffinity = %#x, want 0x100020304", got)
	}
}
