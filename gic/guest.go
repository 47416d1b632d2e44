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

// NoCPU is the CPU interface of a guest whose interrupts go through the
// virtual CPU interface (Owned.Group1): nothing of the physical one is the
// guest's -- its Group 1 enable, binary point and active priorities are
// Ferry's -- so State's CPU part reads as zero and restoring it writes
// nothing. The guest's own CPU-interface state moves with package
// gic/vcpuif's State.
type NoCPU struct{}

func (NoCPU) ReadIGRPEN1() uint64   { return 0 }
func (NoCPU) WriteIGRPEN1(uint64)   {}
func (NoCPU) ReadBPR1() uint64      { return 0 }
func (NoCPU) WriteBPR1(uint64)      {}
func (NoCPU) NumAP1R() int          { return 1 }
func (NoCPU) ReadAP1R(int) uint64   { return 0 }
func (NoCPU) WriteAP1R(int, uint64) {}
func (NoCPU) ReadVMCR() uint64      { return 0 }
func (NoCPU) WriteVMCR(uint64)      {}
