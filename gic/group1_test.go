// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"testing"
)

// ferryGroup1 is Ferry's EL2 timer and NIC with the virtual interface's
// maintenance interrupt (PPI 25), as Ferry's machines own them.
func ferryGroup1() Owned {
	return Owned{PPIs: []uint32{tick, 25}, SPIs: []uint32{nic}, Route: ferryRoute}
}

// group1Guard is a guard of f's GIC with Ferry's interrupts set up, and
// the guest's view through it.
func group1Guard(t *testing.T, f *Fake) (*Guard, viaGuard) {
	t.Helper()
	g, err := NewGuard(f.Dist(), f.Redist(), ferryGroup1())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	return g, newViaGuard(g, f.Dist())
}

// Ferry's interrupts are in Group 1 and the distributor's Group 1 is on,
// on a GIC with one Security state and on one with two (where the group
// registers are the firmware's), which a Ferry taking its interrupts as
// Group 0 FIQs refused.
func TestSetupOwnedGroup1(t *testing.T) {
	for _, two := range []bool{false, true} {
		f := NewFake(224)
		if two {
			f = NewFakeTwoSecurity(224)
		}
		g, err := NewGuard(f.Dist(), f.Redist(), ferryGroup1())
		if err != nil {
			t.Fatal(err)
		}
		if err := g.SetupOwned(); err != nil {
			t.Fatalf("two Security states %v: %v", two, err)
		}
		d, r := f.Dist(), f.Redist()
		ppis := uint32(1)<<tick | 1<<25
		spi, w := uint32(1)<<(nic%32), uint64(4*(nic/32))
		wantGroup := ppis
		wantCTLR := uint32(CTLR_EnableGrp1 | CTLR_ARE | CTLR_DS)
		if two {
			wantGroup, wantCTLR = 0, CTLR_EnableGrp1|CTLR_ARE // RAZ to Ferry; EnableGrp1A, ARE_NS
		}
		switch {
		case r.Read32(GICR_IGROUPR0) != wantGroup || r.Read32(GICR_IGRPMODR0) != 0:
			t.Errorf("two %v: IGROUPR0 %#x IGRPMODR0 %#x, want %#x 0", two, r.Read32(GICR_IGROUPR0), r.Read32(GICR_IGRPMODR0), wantGroup)
		case !two && d.Read32(GICD_IGROUPRn+w) != spi:
			t.Errorf("GICD_IGROUPR1 %#x, want the NIC's SPI", d.Read32(GICD_IGROUPRn+w))
		case r.Read32(GICR_ISENABLER0) != ppis || d.Read32(GICD_ISENABLERn+w) != spi:
			t.Errorf("two %v: enables %#x %#x", two, r.Read32(GICR_ISENABLER0), d.Read32(GICD_ISENABLERn+w))
		case d.Read32(GICD_CTLR) != wantCTLR:
			t.Errorf("two %v: GICD_CTLR %#x, want %#x", two, d.Read32(GICD_CTLR), wantCTLR)
		}
	}
}

// Linux turns the distributor off while it sets it up, and may leave its
// Group 1 off: with Ferry's interrupts in Group 1 the hardware's Group 1
// enable stays on; the guest reads what it wrote; and a migration
// carries the guest's view, not Ferry's enable.
func TestGuardKeepsGroup1(t *testing.T) {
	f := NewFakeTwoSecurity(224)
	g, guest := group1Guard(t, f)
	guest.dw(GICD_CTLR, 0)
	if got := f.Dist().Read32(GICD_CTLR); got&(CTLR_EnableGrp1|CTLR_ARE) != CTLR_EnableGrp1|CTLR_ARE {
		t.Fatalf("the guest turned Ferry's Group 1 off: GICD_CTLR %#x", got)
	}
	if got := guest.dr(GICD_CTLR); got&CTLR_EnableGrp1 != 0 {
		t.Errorf("the guest reads %#x after writing 0", got)
	}
	s, err := g.Capture()
	if err != nil {
		t.Fatal(err)
	}
	if s.Dist.CTLR&CTLR_EnableGrp1 != 0 {
		t.Errorf("captured CTLR %#x: Ferry's enable, not the guest's", s.Dist.CTLR)
	}
	// Restored on another such GIC, Ferry's Group 1 stays on.
	f2 := NewFakeTwoSecurity(224)
	g2, _ := NewGuard(f2.Dist(), f2.Redist(), ferryGroup1())
	if err := g2.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	if err := g2.Restore(s); err != nil {
		t.Fatal(err)
	}
	if got := f2.Dist().Read32(GICD_CTLR); got&CTLR_EnableGrp1 == 0 {
		t.Errorf("after restore GICD_CTLR %#x: Ferry's Group 1 off", got)
	}
	guest.dw(GICD_CTLR, CTLR_EnableGrp1|CTLR_ARE)
	if got := guest.dr(GICD_CTLR); got&CTLR_EnableGrp1 == 0 {
		t.Errorf("the guest's own Group 1 enable reads %#x", got)
	}
}

// No interrupt can be made Group 0 through the Guard (it
// would be an FIQ Ferry never takes), and a state carries every interrupt
// as Group 1 whatever kind of GIC it came from: one captured where the
// group registers are Secure-only (zero to Ferry) restores on a GIC with
// one Security state with nothing in Group 0.
func TestGroup1EveryInterrupt(t *testing.T) {
	f := NewFake(224)
	g, _ := NewGuard(f.Dist(), f.Redist(), ferryGroup1())
	if err := g.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	guest := newViaGuard(g, f.Dist())
	guest.dw(GICD_IGROUPRn+4, 0)    // SPIs 32-63 (the NIC's 48 among them) to Group 0
	guest.sw(sgi(GICR_IGROUPR0), 0) // SGIs and PPIs, Ferry's tick among them
	if got := f.Dist().Read32(GICD_IGROUPRn + 4); got != ^uint32(0) {
		t.Errorf("GICD_IGROUPR1 %#x after the guest wrote 0", got)
	}
	if got := f.Redist().Read32(GICR_IGROUPR0); got != ^uint32(0) {
		t.Errorf("GICR_IGROUPR0 %#x after the guest wrote 0", got)
	}
	if got, want := guest.dr(GICD_IGROUPRn+4), ^uint32(0)&^(1<<(nic%32)); got != want {
		t.Errorf("the guest reads GICD_IGROUPR1 %#x, want %#x (its own as Group 1, Ferry's as it wrote)", got, want)
	}

	src := NewFakeTwoSecurity(224)
	gs, _ := NewGuard(src.Dist(), src.Redist(), ferryGroup1())
	if err := gs.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	s, err := gs.Capture()
	if err != nil {
		t.Fatal(err)
	}
	for w, v := range s.Dist.Group {
		if w == int(nic/32)-1 {
			v |= 1 << (nic % 32) // Ferry's NIC: as the guest last wrote it (it never did)
		}
		if v != ^uint32(0) {
			t.Errorf("captured Dist.Group[%d] %#x, want every SPI in Group 1", w, v)
		}
	}
	dst := NewFake(224)
	gd, _ := NewGuard(dst.Dist(), dst.Redist(), ferryGroup1())
	if err := gd.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	if err := gd.Restore(s); err != nil {
		t.Fatal(err)
	}
	for w := 1; w <= 7; w++ {
		if got := dst.Dist().Read32(GICD_IGROUPRn + uint64(4*w)); got != ^uint32(0) {
			t.Errorf("restored GICD_IGROUPR%d %#x: interrupts in Group 0", w, got)
		}
	}
	if got := dst.Redist().Read32(GICR_IGROUPR0); got != ^uint32(0) {
		t.Errorf("restored GICR_IGROUPR0 %#x", got)
	}
}
