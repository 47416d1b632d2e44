// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import "testing"

func TestGuardPriorityEnabled(t *testing.T) {
	f := NewFake(224)
	g, guest := group1Guard(t, f)
	guest.sw(sgi(GICR_IPRIORITYRn+24), 0xa0<<24) // PPI 27: the guest's timer
	guest.sw(sgi(GICR_ISENABLER0), 1<<27|1<<5)
	guest.dw(GICD_IPRIORITYRn+32, 0x90<<8) // SPI 33
	guest.dw(GICD_ISENABLERn+4, 1<<1)
	for _, tc := range []struct {
		id      uint32
		prio    uint8
		enabled bool
	}{
		{27, 0xa0, true}, {5, 0, true}, {33, 0x90, true}, {34, 0, false},
		{tick, OwnedPriority, true}, {1020, 0, false},
	} {
		if p, e := g.Priority(tc.id), g.Enabled(tc.id); p != tc.prio || e != tc.enabled {
			t.Errorf("INTID %d: priority %#x enabled %v, want %#x %v", tc.id, p, e, tc.prio, tc.enabled)
		}
	}
}

// countReads counts a Regs' 32-bit reads.
type countReads struct {
	Regs
	n *int
}

func (c countReads) Read32(off uint64) uint32 { *c.n++; return c.Regs.Read32(off) }

// Priority reads a byte from the GIC once, and again after anything Ferry
// writes through the Guard: a guest's store, a Restore.
func TestGuardPriorityCached(t *testing.T) {
	f := NewFake(224)
	var n int
	g, err := NewGuard(countReads{f.Dist(), &n}, countReads{f.Redist(), &n}, ferryGroup1())
	if err != nil {
		t.Fatal(err)
	}
	if err := g.SetupOwned(); err != nil {
		t.Fatal(err)
	}
	guest := newViaGuard(g, f.Dist())
	guest.dw(GICD_IPRIORITYRn+32, 0x90<<8) // SPI 33
	guest.sw(sgi(GICR_IPRIORITYRn+24), 0xa0<<24)
	ask := func(id uint32, want uint8, reads int) {
		t.Helper()
		n = 0
		if p := g.Priority(id); p != want || n != reads {
			t.Errorf("INTID %d: priority %#x with %d reads of the GIC, want %#x with %d", id, p, n, want, reads)
		}
	}
	ask(33, 0x90, 1)
	ask(33, 0x90, 0)
	ask(27, 0xa0, 1)
	ask(27, 0xa0, 0)
	guest.dw(GICD_IPRIORITYRn+32, 0x80<<8)
	ask(33, 0x80, 1)
	s, err := g.Capture()
	if err != nil {
		t.Fatal(err)
	}
	s.Dist.Priority[33-FirstSPI] = 0x70
	if err := g.Restore(s); err != nil {
		t.Fatal(err)
	}
	ask(33, 0x70, 1)
	ask(33, 0x70, 0)
}
