// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

// Priority is the priority the guest gave its INTID id, read from the GIC:
// GICR_IPRIORITYR<n> for an SGI or PPI, GICD_IPRIORITYR<n> for an SPI (0
// for an INTID the GIC does not have) -- once: the byte is kept until a
// write through the Guard, so an interrupt exit makes no MMIO read of the
// distributor (a slow access on any board; under QEMU one that waits for
// its I/O thread). The interrupt path lists the
// guest's interrupts at it.
func (g *Guard) Priority(id uint32) uint8 {
	g.mu.Lock()
	defer g.mu.Unlock()
	if id >= FirstSPI+MaxSPIs {
		return 0
	}
	if g.prioGen[id] == g.gen {
		return g.prio[id]
	}
	var w uint32
	if id < NumPrivate {
		w = g.r.Read32(GICR_IPRIORITYRn + uint64(id&^3))
	} else {
		off, _ := prioWord(id)
		w = g.d.Read32(off)
	}
	p := uint8(w >> (8 * (id % 4)))
	g.prio[id], g.prioGen[id] = p, g.gen
	return p
}

// Enabled reports whether INTID id is enabled at the GIC (GICR_ISENABLER0
// or GICD_ISENABLER<n>).
func (g *Guard) Enabled(id uint32) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case id < NumPrivate:
		return g.r.Read32(GICR_ISENABLER0)&(1<<id) != 0
	case id < FirstSPI+MaxSPIs:
		off, bit := bitWord(GICD_ISENABLERn, id)
		return g.d.Read32(off)&bit != 0
	}
	return false
}
