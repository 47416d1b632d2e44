package gic

import "fmt"

// SetupOwned programs Ferry's own PPIs (d the distributor, r the
// redistributor of Ferry's CPU at RD_base): each is disabled, made Group 0
// (IGROUPR0 and IGRPMODR0 bits clear), given OwnedPriority, made
// level-sensitive, its pending and active state cleared, and enabled; the
// redistributor is woken (GICR_WAKER.ProcessorSleep cleared) and the
// distributor's Group 0 and affinity routing enabled. Group 0 needs a GIC
// with a single Security state (GICD_CTLR.DS = 1), as on QEMU's virt board
// without EL3; anything else is refused.
//
// The CPU-interface half is Ferry's own and is not done here: at EL2,
// ICC_SRE_EL2.SRE = 1, ICC_PMR_EL1 = 0xff, ICC_IGRPEN0_EL1 = 1,
// ICC_CTLR_EL1.EOImode = 0 (ICC_CTLR_EOImode: it governs the guest's
// Group 1 EOIs too), and HCR_EL2.FMO = 1 so the Group 0 FIQ is taken to
// EL2 (hyp's configureEL2).
func SetupOwned(d, r Regs, own Owned) error {
	m, err := own.masks()
	if err != nil {
		return err
	}
	ctlr := d.Read32(GICD_CTLR)
	if ctlr&CTLR_DS == 0 {
		return fmt.Errorf("gic: GICD_CTLR is %#x: DS is 0, so Group 0 is Secure and Ferry cannot own it", ctlr)
	}
	if m.any() {
		r.Write32(GICR_ICENABLER0, m.bits)
		if err := waitRWP(r, GICR_CTLR, GICR_CTLR_RWP, "GICR_CTLR"); err != nil {
			return err
		}
		r.Write32(GICR_IGROUPR0, r.Read32(GICR_IGROUPR0)&^m.bits)
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
	if err := wake(r); err != nil {
		return err
	}
	if m.any() {
		r.Write32(GICR_ISENABLER0, m.bits)
	}
	d.Write32(GICD_CTLR, ctlr&(CTLR_EnableGrp1|CTLR_DS)|CTLR_EnableGrp0|CTLR_ARE)
	if err := waitRWP(d, GICD_CTLR, CTLR_RWP, "GICD_CTLR"); err != nil {
		return err
	}
	if got := d.Read32(GICD_CTLR); got&(CTLR_EnableGrp0|CTLR_ARE) != CTLR_EnableGrp0|CTLR_ARE {
		return fmt.Errorf("gic: GICD_CTLR reads %#x after enabling Group 0 and affinity routing", got)
	}
	return nil
}

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
