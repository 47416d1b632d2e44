// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"fmt"
	"slices"
)

// Owned lists the interrupts Ferry keeps for itself: PPIs (INTIDs 16-31, in
// the redistributor), e.g. 26, the EL2 physical timer, and SPIs (INTIDs
// 32-1019, in the distributor), e.g. its management NIC's. They are
// Non-secure Group 1, like the guest's, taken as IRQs at EL2
// (HCR_EL2.IMO = 1) while the guest's go through the virtual CPU
// interface (package gic/vcpuif), so the GIC may have two Security states
// (GICD_CTLR.DS = 0, as TF-A leaves it) or one. Restore never changes
// them, Capture leaves them out of the guest's state, and the Guard stops
// the guest from regrouping, disabling, pending, retargeting,
// reprioritising or reconfiguring them.
type Owned struct {
	// SGIs (INTIDs 0-15, in the redistributor) are Ferry's own between
	// its CPUs: the kick that wakes the boot CPU (boot/el2).
	SGIs []uint32
	PPIs []uint32
	SPIs []uint32
	// Route is the GICD_IROUTER<n> value SetupOwned gives the owned SPIs:
	// Ferry's CPU's affinity (MPIDR_EL1 Aff3-Aff0 in the register's
	// layout, see RouteTo) with Interrupt_Routing_Mode 0.
	Route uint64
}

// RouteTo is the GICD_IROUTER<n> value that targets the CPU whose
// MPIDR_EL1 is mpidr (IHI 0069 12.9.22, GICD_IROUTER<n>: Aff3 in [39:32],
// Aff2-Aff0 in [23:0], as in MPIDR_EL1).
func RouteTo(mpidr uint64) uint64 { return mpidr & irouterAffinity }

// irouterAffinity are GICD_IROUTER<n>'s affinity fields.
const irouterAffinity = 0xff_0000_0000 | 0xff_ffff

// ownMasks are the bits of the GIC registers that belong to Ferry.
type ownMasks struct {
	bits uint32    // one bit per INTID 0-31: IGROUPR0, I[SC]ENABLER0, ...
	prio [8]uint32 // per GICR_IPRIORITYR<n>: the byte lanes of owned INTIDs
	cfg  uint32    // GICR_ICFGR1: the Int_config[1] (edge) bits of owned PPIs; [0] is RES0 (SGIs have none: always edge)

	spis []uint32          // owned SPIs, ascending
	dist map[uint64]uint32 // distributor word offset -> owned bits (bitmaps, IPRIORITYR, ICFGR)
}

// ferryEnable is GICD_CTLR's enable of Ferry's group, Non-secure Group 1
// (EnableGrp1, or EnableGrp1A with two Security states: the same bit).
const ferryEnable = CTLR_EnableGrp1

func (m ownMasks) any() bool { return m.bits != 0 || len(m.spis) != 0 }

// distBitmaps are the distributor's one-bit-per-INTID registers.
var distBitmaps = []uint64{
	GICD_IGROUPRn, GICD_ISENABLERn, GICD_ICENABLERn, GICD_ISPENDRn, GICD_ICPENDRn,
	GICD_ISACTIVERn, GICD_ICACTIVERn, GICD_IGRPMODRn,
}

// bitWord is the offset and bit of INTID id in the one-bit register at base.
func bitWord(base uint64, id uint32) (uint64, uint32) {
	return base + uint64(4*(id/32)), 1 << (id % 32)
}

// prioWord is the offset and byte lane of INTID id's priority.
func prioWord(id uint32) (uint64, uint32) {
	return GICD_IPRIORITYRn + uint64(id&^3), 0xff << (8 * (id % 4))
}

// cfgWord is the offset and Int_config[1] bit of INTID id in GICD_ICFGR<n>.
func cfgWord(id uint32) (uint64, uint32) {
	return GICD_ICFGRn + uint64(4*(id/16)), 2 << (2 * (id % 16))
}

// routeOff is the offset of INTID id's GICD_IROUTER<n>.
func routeOff(id uint32) uint64 { return GICD_IROUTERn + 8*uint64(id) }

// RoutePage is the offset in the distributor frame of the 4 KiB page that
// holds SPI id's GICD_IROUTER<n>: a page the Guard traps (RoutePages) when
// Ferry owns id.
func RoutePage(id uint32) uint64 { return routeOff(id) &^ (pageSize - 1) }

// masks checks o and returns its register masks.
func (o Owned) masks() (ownMasks, error) {
	var m ownMasks
	for i, id := range o.SGIs {
		if id >= FirstPPI {
			return m, fmt.Errorf("gic: Owned.SGIs[%d] = %d: not an SGI (0..15)", i, id)
		}
		if m.bits&(1<<id) != 0 {
			return m, fmt.Errorf("gic: Owned.SGIs[%d] = %d: listed twice", i, id)
		}
		m.bits |= 1 << id
		m.prio[id/4] |= 0xff << (8 * (id % 4))
	}
	for i, id := range o.PPIs {
		if id < FirstPPI || id >= NumPrivate {
			return m, fmt.Errorf("gic: Owned.PPIs[%d] = %d: not a PPI (16..31)", i, id)
		}
		if m.bits&(1<<id) != 0 {
			return m, fmt.Errorf("gic: Owned.PPIs[%d] = %d: listed twice", i, id)
		}
		m.bits |= 1 << id
		m.prio[id/4] |= 0xff << (8 * (id % 4))
		m.cfg |= 2 << (2 * (id - FirstPPI))
	}
	if len(o.SPIs) > 0 {
		m.dist = map[uint64]uint32{}
	}
	for i, id := range o.SPIs {
		if id < FirstSPI || id >= FirstSPI+MaxSPIs {
			return m, fmt.Errorf("gic: Owned.SPIs[%d] = %d: not an SPI (32..1019)", i, id)
		}
		if slices.Contains(m.spis, id) {
			return m, fmt.Errorf("gic: Owned.SPIs[%d] = %d: listed twice", i, id)
		}
		m.spis = append(m.spis, id)
		for _, base := range distBitmaps {
			off, bit := bitWord(base, id)
			m.dist[off] |= bit
		}
		off, lane := prioWord(id)
		m.dist[off] |= lane
		off, bit := cfgWord(id)
		m.dist[off] |= bit
	}
	slices.Sort(m.spis)
	return m, nil
}

// ownsSPI reports whether id is one of Ferry's SPIs.
func (m ownMasks) ownsSPI(id uint32) bool {
	_, ok := slices.BinarySearch(m.spis, id)
	return ok
}

// keep merges a guest value v with the current hardware value cur: the
// owned bits come from cur, the rest from v.
func keep(v, cur, owned uint32) uint32 { return v&^owned | cur&owned }
