// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"strings"
	"testing"
)

// ferryGroup1 is Ferry's EL2 timer and NIC as Non-secure Group 1, with the
// virtual interface's maintenance interrupt (PPI 25).
func ferryGroup1() Owned {
	return Owned{PPIs: []uint32{tick, 25}, SPIs: []uint32{nic}, Route: ferryRoute, Group1: true}
}

// With Group 1, Ferry's interrupts are in Group 1 and the distributor's
// Group 1 is on, on a GIC with one Security state and on one with two
// (where the group registers are the firmware's); Group 0 on the latter
// is still refused.
func TestSetupOwnedGroup1(t *testing.T) {
	for _, two := range []bool{false, true} {
		f := NewFake(224)
		if two {
			f = NewFakeTwoSecurity(224)
		}
		if two {
			if err := SetupOwned(f.Dist(), f.Redist(), Owned{PPIs: []uint32{tick}}); err == nil || !strings.Contains(err.Error(), "DS is 0") {
				t.Fatalf("Group 0 on a GIC with two Security states: %v", err)
			}
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
	g, err := NewGuard(f.Dist(), f.Redist(), ferryGroup1())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	guest := newViaGuard(g, f.Dist())
	guest.dw(GICD_CTLR, 0)
	if got := f.Dist().Read32(GICD_CTLR); got&(CTLR_EnableGrp1|CTLR_ARE) != CTLR_EnableGrp1|CTLR_ARE {
		t.Fatalf("the guest turned Ferry's Group 1 off: GICD_CTLR %#x", got)
	}
	if got := guest.dr(GICD_CTLR); got&CTLR_EnableGrp1 != 0 {
		t.Errorf("the guest reads %#x after writing 0", got)
	}
	s, err := g.Capture(&FakeCPU{})
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
	if err := g2.Restore(s, &FakeCPU{}); err != nil {
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
