// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

// Priority is the priority the guest gave its INTID id, read from the GIC:
// GICR_IPRIORITYR<n> for an SGI or PPI, GICD_IPRIORITYR<n> for an SPI (0
// for an INTID the GIC does not have). The interrupt path lists the
// guest's interrupts at it.
func (g *Guard) Priority(id uint32) uint8 {
	g.mu.Lock()
	defer g.mu.Unlock()
	switch {
	case id < NumPrivate:
		return uint8(g.r.Read32(GICR_IPRIORITYRn+uint64(id&^3)) >> (8 * (id % 4)))
	case id < FirstSPI+MaxSPIs:
		off, _ := prioWord(id)
		return uint8(g.d.Read32(off) >> (8 * (id % 4)))
	}
	return 0
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
