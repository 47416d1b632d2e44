// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import "fmt"

// SetupOwned programs Ferry's own PPIs and SPIs (d the distributor, r the
// redistributor of Ferry's CPU at RD_base): each is disabled, made
// Non-secure Group 1 (IGROUPR set, IGRPMODR clear), given OwnedPriority,
// made level-sensitive, its pending and active state cleared, an SPI
// routed to own.Route, and enabled; the redistributor is woken
// (GICR_WAKER.ProcessorSleep cleared) and the distributor's Group 1 and
// affinity routing enabled. An SPI the distributor does not implement
// (GICD_TYPER.ITLinesNumber) is refused. The GIC may have one Security
// state (GICD_CTLR.DS = 1, as on QEMU's virt board without EL3) or two:
// with DS = 0 the group registers are Secure-only (RAZ/WI to Ferry) and
// the firmware has already made every interrupt it does not keep
// Non-secure Group 1 (TF-A does), and GICD_CTLR's bits 1 and 4 are
// EnableGrp1A and ARE_NS, where a DS = 1 GIC has EnableGrp1 and ARE.
//
// The CPU-interface half is hyp's (configureEL2): ICC_SRE_EL2.SRE = 1,
// ICC_PMR_EL1 = 0xff, ICC_IGRPEN1_EL1 = 1, ICC_CTLR_EL1.EOImode = 1
// (priority drop and deactivation apart, so the guest's deactivation of a
// HW-linked interrupt ends it) and HCR_EL2.IMO = 1.
func SetupOwned(d, r Regs, own Owned) error {
	m, err := own.masks()
	if err != nil {
		return err
	}
	ctlr := d.Read32(GICD_CTLR)
	if err := setupPrivate(r, m); err != nil {
		return err
	}
	if err := setupSPIs(d, m, own.Route); err != nil {
		return err
	}
	if err := wake(r); err != nil {
		return err
	}
	if m.bits != 0 {
		r.Write32(GICR_ISENABLER0, m.bits)
	}
	for _, id := range m.spis {
		off, bit := bitWord(GICD_ISENABLERn, id)
		d.Write32(off, bit)
	}
	d.Write32(GICD_CTLR, ctlr&(CTLR_EnableGrp0|CTLR_EnableGrp1|CTLR_DS)|ferryEnable|CTLR_ARE)
	if err := waitRWP(d, GICD_CTLR, CTLR_RWP, "GICD_CTLR"); err != nil {
		return err
	}
	if got := d.Read32(GICD_CTLR); got&(ferryEnable|CTLR_ARE) != ferryEnable|CTLR_ARE {
		return fmt.Errorf("gic: GICD_CTLR reads %#x after enabling Group 1 (%#x) and affinity routing", got, ferryEnable)
	}
	return nil
}

// SetupPrivate is SetupOwned's redistributor half, for another CPU's
// redistributor r once SetupOwned ran for the boot CPU's: Ferry's SGIs and
// PPIs programmed and enabled there, the redistributor woken. own's SPIs
// are the distributor's, left alone.
func SetupPrivate(r Regs, own Owned) error {
	m, err := own.masks()
	if err != nil {
		return err
	}
	if err := setupPrivate(r, m); err != nil {
		return err
	}
	if err := wake(r); err != nil {
		return err
	}
	if m.bits != 0 {
		r.Write32(GICR_ISENABLER0, m.bits)
	}
	return nil
}

// setupPrivate programs the owned SGIs and PPIs of r, all but the enable.
func setupPrivate(r Regs, m ownMasks) error {
	if m.bits != 0 {
		r.Write32(GICR_ICENABLER0, m.bits)
		if err := waitRWP(r, GICR_CTLR, GICR_CTLR_RWP, "GICR_CTLR"); err != nil {
			return err
		}
		r.Write32(GICR_IGROUPR0, r.Read32(GICR_IGROUPR0)|m.bits)
		r.Write32(GICR_IGRPMODR0, r.Read32(GICR_IGRPMODR0)&^m.bits)
		for w, lanes := range m.prio {
			if lanes != 0 {
				off := GICR_IPRIORITYRn + uint64(4*w)
				r.Write32(off, r.Read32(off)&^lanes|OwnedPriority*0x01010101&lanes)
			}
		}
		r.Write32(GICR_ICFGR1, r.Read32(GICR_ICFGR1)&^m.cfg) // 0b00: level-sensitive
		r.Write32(GICR_ICPENDR0, m.bits)
		r.Write32(GICR_ICACTIVER0, m.bits)
	}
	return nil
}

// allGroup1 is the IGROUPR value Ferry writes whatever the guest asked
// for: every interrupt stays Non-secure Group 1 (a guest's made Group 0
// would be an FIQ Ferry never takes).
const allGroup1 = ^uint32(0)

// wake clears GICR_WAKER.ProcessorSleep and waits, a bounded number of
// reads, for ChildrenAsleep to clear (IHI 0069 12.11, GICR_WAKER).
func wake(r Regs) error {
	r.Write32(GICR_WAKER, r.Read32(GICR_WAKER)&^WAKER_ProcessorSleep)
	for range idleCycles {
		if r.Read32(GICR_WAKER)&WAKER_ChildrenAsleep == 0 {
			return nil
		}
	}
	return fmt.Errorf("gic: GICR_WAKER.ChildrenAsleep still set after %d reads", idleCycles)
}

// setupSPIs does SetupOwned's work for the owned SPIs, all but the enable.
func setupSPIs(d Regs, m ownMasks, route uint64) error {
	if len(m.spis) == 0 {
		return nil
	}
	n := spisOf(d.Read32(GICD_TYPER))
	for _, id := range m.spis {
		if int(id) >= FirstSPI+n {
			return fmt.Errorf("gic: Owned SPI %d: the distributor implements INTIDs up to %d (GICD_TYPER %#x)", id, FirstSPI+n-1, d.Read32(GICD_TYPER))
		}
		off, bit := bitWord(GICD_ICENABLERn, id)
		d.Write32(off, bit)
	}
	if err := waitRWP(d, GICD_CTLR, CTLR_RWP, "GICD_CTLR"); err != nil {
		return err
	}
	for _, id := range m.spis {
		off, bit := bitWord(GICD_IGROUPRn, id)
		d.Write32(off, d.Read32(off)|bit)
		off, bit = bitWord(GICD_IGRPMODRn, id)
		d.Write32(off, d.Read32(off)&^bit)
		off, lane := prioWord(id)
		d.Write32(off, d.Read32(off)&^lane|OwnedPriority*0x01010101&lane)
		off, bit = cfgWord(id)
		d.Write32(off, d.Read32(off)&^bit) // 0b00: level-sensitive
		d.Write64(routeOff(id), route&irouterAffinity)
		for _, base := range []uint64{GICD_ICPENDRn, GICD_ICACTIVERn} {
			off, bit := bitWord(base, id)
			d.Write32(off, bit)
		}
	}
	return nil
}

// FrameAffinity is the affinity of the CPU whose redistributor r is
// (GICR_TYPER.Affinity_Value, IHI 0069 12.11.35: bits [63:32], Aff3 to
// Aff0), in MPIDR_EL1's layout (Aff3 in [39:32], Aff2-Aff0 in [23:0]).
func FrameAffinity(r Regs) uint64 {
	a := r.Read64(GICR_TYPER) >> 32
	return a>>24<<32 | a&0xff_ffff
}
