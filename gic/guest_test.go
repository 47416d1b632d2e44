// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"testing"

	"github.com/ferry-hv/ferry/mmio"
)

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

// The guest's stores to its distributor and SGI pages, at any width and
// offset, interleaved with the interrupt path's reads: Priority always
// says what the GIC holds.
func FuzzGuardPriority(f *testing.F) {
	f.Add([]byte{0, 1, 0x20, 0x90, 2, 7, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		fk := NewFake(224)
		g, err := NewGuard(fk.Dist(), fk.Redist(), ferryGroup1())
		if err != nil {
			t.Fatal(err)
		}
		if err := g.SetupOwned(); err != nil {
			t.Fatal(err)
		}
		pages := []mmio.Device{g.DistPage(), g.SGIPage()}
		for len(b) >= 4 {
			op, off, v := b[0], uint64(b[1])<<2|uint64(b[0]>>6), uint64(b[2])|uint64(b[3])<<8
			b = b[4:]
			id := uint32(off) % (FirstSPI + 224)
			if op&1 == 0 {
				// A store of 1, 2, 4 or 8 bytes around the priority registers.
				size := 1 << (op >> 1 & 3)
				p := int(op>>3&1) % len(pages)
				base := uint64(GICD_IPRIORITYRn)
				if p == 1 {
					base = GICR_IPRIORITYRn - GICR_SGIBase
				}
				pages[p].Write(base+off%0x400, size, v*0x01010101)
				continue
			}
			var w uint32
			if id < NumPrivate {
				w = fk.Redist().Read32(GICR_IPRIORITYRn + uint64(id&^3))
			} else {
				w = fk.Dist().Read32(GICD_IPRIORITYRn + uint64(id&^3))
			}
			if got, want := g.Priority(id), uint8(w>>(8*(id%4))); got != want {
				t.Fatalf("INTID %d: Priority %#x, the GIC holds %#x", id, got, want)
			}
		}
	})
}
