// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

import "math/bits"

// IRQ is an interrupt for the guest.
type IRQ struct {
	INTID    uint32 // the guest's INTID; with HW, also the physical one
	Priority uint8  // as the guest programmed it (GICD/GICR_IPRIORITYR<n>)
	// HW: Ferry acknowledged the physical interrupt INTID and dropped its
	// priority; it stays active until the guest deactivates the virtual
	// one, which ends it (ICH_LR<n>_EL2.HW). An SGI is never HW.
	HW bool
}

// lr is the list-register value that makes irq pending, in Group 1.
func (irq IRQ) lr() uint64 {
	return LR{VINTID: irq.INTID, PINTID: irq.INTID, HW: irq.HW, Group1: true, Priority: irq.Priority, State: Pending}.Encode()
}

// Outcome is what Inject did.
type Outcome uint8

const (
	Listed   Outcome = iota // in a list register: the guest sees it at its next entry
	Queued                  // waiting for a list register (Refill, the underflow maintenance interrupt)
	Already                 // already pending for the guest (listed or queued): nothing changed
	Repended                // a virtual (HW = 0) interrupt the guest has active is pending again
	Refused                 // not an interrupt the guest can have: INTID above 1019, or an SGI as HW
)

var outcomeNames = [...]string{"listed", "queued", "already", "repended", "refused"}

func (o Outcome) String() string { return outcomeNames[o] }

// Stats count what the interface did, for the machine's status.
type Stats struct {
	Listed, Queued, Already, Repended, Refused uint64
	Evicted                                    uint64 // listed, pending interrupts sent back to the queue by more urgent ones
	Maintenance                                uint64 // maintenance interrupts taken
}

// VIF is the guest's virtual CPU interface: the list registers and the
// queue of interrupts waiting for one. It is used from the one goroutine
// that runs the guest (or with the guest stopped), never concurrently.
//
// Invariants, between calls: no INTID is in two valid list registers, or in
// the queue and a list register in the pending state; no queued interrupt
// is more urgent than a listed one that is only pending (after a refill:
// the guest ending a Pending-and-Active virtual interrupt leaves it pending
// on its own); ICH_HCR_EL2.UIE is set exactly when the queue is not empty
// and at least two list registers are valid. (With at most one valid --
// one list register, or queued entries all waiting for an INTID the guest
// has active -- the underflow condition would hold at once and the
// maintenance interrupt would fire on every entry, the guest never
// running: those entries wait for the next exit's Refill instead.)
type VIF struct {
	r    Regs
	n    int    // list registers
	mask uint64 // their bits in ICH_ELRSR_EL2
	apr  int    // active-priority registers per group
	uie  bool   // UIE as last written

	q      [maxQueue]uint64 // pending LR values, by priority, then arrival
	nq     int
	queued [queueWords]uint64 // INTIDs in q

	Stats Stats
}

// New returns the policy for the virtual interface r; the interface stays
// off until Enable.
func New(r Regs) *VIF {
	vtr := r.VTR()
	n := min(NumLRsOf(vtr), MaxLRs)
	return &VIF{r: r, n: n, mask: 1<<n - 1, apr: NumAPRsOf(vtr)}
}

// NumLRs is how many list registers the interface has.
func (v *VIF) NumLRs() int { return v.n }

// Enable turns the virtual interface on (ICH_HCR_EL2.En), keeping the
// underflow request the queue needs.
func (v *VIF) Enable() {
	hcr := v.r.HCR()&^(HCR_UIE) | HCR_En
	if v.uie {
		hcr |= HCR_UIE
	}
	v.r.SetHCR(hcr)
}

// Pending reports how many interrupts wait for a list register.
func (v *VIF) Pending() int { return v.nq }

// Inject makes irq pending for the guest: in a free list register; or in
// the register of a listed, only pending interrupt less urgent than it
// (which goes back to the queue); or in the queue. An interrupt already
// pending for the guest is not injected twice; one the guest has active
// and listed waits in the queue (HW: the pending state of a HW interrupt
// is the physical GIC's, never Pending and Active in one register) or,
// virtual, becomes Pending and Active in its register.
func (v *VIF) Inject(irq IRQ) Outcome {
	if irq.INTID > MaxINTID || irq.HW && irq.INTID < FirstPPI {
		v.Stats.Refused++
		return Refused
	}
	if v.isQueued(irq.INTID) {
		v.Stats.Already++
		return Already
	}
	elrsr := v.r.ELRSR()
	for b := v.mask &^ elrsr; b != 0; b &= b - 1 {
		i := bits.TrailingZeros64(b)
		lr := v.r.LR(i)
		if lrINTID(lr) != irq.INTID {
			continue
		}
		switch lrState(lr) {
		case Pending, PendingActive:
			v.Stats.Already++
			return Already
		case Active:
			if !irq.HW && lr&LR_HW == 0 {
				v.r.SetLR(i, lr|uint64(Pending)<<LR_StateShift)
				v.Stats.Repended++
				return Repended
			}
		}
		break // active and HW: queued until the guest ends it
	}
	v.insert(irq.lr(), false)
	v.fill(elrsr) // no list register changed since it was read
	if v.isQueued(irq.INTID) {
		v.Stats.Queued++
		return Queued
	}
	v.Stats.Listed++
	return Listed
}

// GuestPending reports whether the guest has an interrupt to take: one
// queued, or one listed pending at a priority its mask (ICV_PMR_EL1) lets
// through, with its Group 1 enabled (a WFI of the guest's would not sleep).
func (v *VIF) GuestPending() bool {
	if v.nq != 0 {
		return true
	}
	vmcr := v.r.VMCR()
	if vmcr&VMCR_VENG1 == 0 {
		return false
	}
	pmr := uint8(vmcr >> VMCR_VPMRShift)
	for b := v.mask &^ v.r.ELRSR(); b != 0; b &= b - 1 {
		lr := v.r.LR(bits.TrailingZeros64(b))
		if s := lrState(lr); (s == Pending || s == PendingActive) && lrPrio(lr) < pmr {
			return true
		}
	}
	return false
}

// Refill moves queued interrupts into free list registers (and into those
// of less urgent pending ones). The run loop calls it before each entry
// into the guest; with the queue empty it reads no register.
// (An empty queue always has UIE clear: fill leaves it so.)
func (v *VIF) Refill() {
	if v.nq != 0 {
		v.fill(v.r.ELRSR())
	}
}

// Maintenance takes the maintenance interrupt: it refills the list
// registers, which clears the underflow request once the queue is empty
// (the interrupt is a level while a condition holds). It returns
// ICH_MISR_EL2 as it read it.
func (v *VIF) Maintenance() uint64 {
	misr := v.r.MISR()
	v.Stats.Maintenance++
	v.fill(v.r.ELRSR())
	return misr
}

// Clear puts the interface in its empty state at boot, when the list and
// active-priority registers hold UNKNOWN values (IHI 0069: their reset
// values are architecturally UNKNOWN): all zero, nothing deactivated,
// the queue empty, UIE clear.
func (v *VIF) Clear() {
	for i := range v.n {
		v.r.SetLR(i, 0)
	}
	for i := range v.apr {
		v.r.SetAP0R(i, 0)
		v.r.SetAP1R(i, 0)
	}
	v.r.SetVMCR(0)
	v.nq, v.queued = 0, [queueWords]uint64{}
	v.uie = false
	v.r.SetHCR(v.r.HCR() &^ (HCR_UIE | HCR_EOIcount))
}

// Reset forgets every interrupt of the guest's, for a guest that will not
// run here again (reset, or migrated away): each physical interrupt Ferry
// acknowledged for it, listed or queued, is deactivated (it would
// otherwise stay active for good), the list registers are cleared, and the
// guest's priority mask, group enables and active priorities are zeroed.
func (v *VIF) Reset() {
	valid := v.mask &^ v.r.ELRSR()
	for i := range v.n {
		lr := v.r.LR(i)
		if valid&(1<<i) != 0 && lr&LR_HW != 0 && lrState(lr) != Invalid {
			v.r.Deactivate(uint32(lr & LR_pINTID >> LR_pINTIDShift))
		}
		v.r.SetLR(i, 0)
	}
	for _, e := range v.q[:v.nq] {
		if e&LR_HW != 0 {
			v.r.Deactivate(lrINTID(e))
		}
	}
	v.nq = 0
	v.queued = [queueWords]uint64{}
	v.setUIE(false)
	v.r.SetVMCR(0)
	for i := range v.apr {
		v.r.SetAP0R(i, 0)
		v.r.SetAP1R(i, 0)
	}
	v.r.SetHCR(v.r.HCR() &^ HCR_EOIcount)
}

// fill lists the queue's interrupts, most urgent first, while a register
// is free or holds a less urgent, only pending interrupt (evicted back to
// the queue). An INTID already listed (active, its next instance queued)
// stays queued. It keeps UIE set exactly while the queue is not empty.
// elrsr is ICH_ELRSR_EL2 as the caller read it, with no list register
// written since.
func (v *VIF) fill(elrsr uint64) {
	var lrs [MaxLRs]uint64
	free := elrsr & v.mask
	for b := v.mask &^ free; b != 0; b &= b - 1 {
		i := bits.TrailingZeros64(b)
		lrs[i] = v.r.LR(i)
	}
	for i := 0; i < v.nq; {
		e := v.q[i]
		if v.listed(&lrs, free, lrINTID(e)) {
			i++
			continue
		}
		var slot int
		evicted := uint64(0)
		if free != 0 {
			slot = bits.TrailingZeros64(free)
			free &^= 1 << slot
		} else {
			slot = v.victim(&lrs, lrPrio(e))
			if slot < 0 {
				break // every later entry is as urgent or less: none can be listed
			}
			evicted = lrs[slot]
		}
		v.removeAt(i)
		v.r.SetLR(slot, e)
		lrs[slot] = e
		if evicted != 0 {
			v.insert(evicted&^LR_State|uint64(Pending)<<LR_StateShift, true)
			v.Stats.Evicted++
		}
	}
	v.setUIE(v.nq != 0 && bits.OnesCount64(v.mask&^free) >= 2)
}

// listed reports whether intid is in a valid list register.
func (v *VIF) listed(lrs *[MaxLRs]uint64, free uint64, intid uint32) bool {
	for b := v.mask &^ free; b != 0; b &= b - 1 {
		if lrINTID(lrs[bits.TrailingZeros64(b)]) == intid {
			return true
		}
	}
	return false
}

// victim is the list register of the least urgent listed interrupt that is
// only pending and less urgent than prio (a higher value), or -1.
func (v *VIF) victim(lrs *[MaxLRs]uint64, prio uint8) int {
	slot, worst := -1, prio
	for i := range v.n {
		if lrState(lrs[i]) == Pending && lrPrio(lrs[i]) > worst {
			slot, worst = i, lrPrio(lrs[i])
		}
	}
	return slot
}

// insert queues e by priority: after the entries as urgent (it arrived
// last), or before them when first (an evicted entry, which arrived
// before them).
func (v *VIF) insert(e uint64, first bool) {
	p := lrPrio(e)
	at := v.nq
	for i, q := range v.q[:v.nq] {
		if lrPrio(q) > p || first && lrPrio(q) == p {
			at = i
			break
		}
	}
	copy(v.q[at+1:v.nq+1], v.q[at:v.nq])
	v.q[at] = e
	v.nq++
	id := lrINTID(e)
	v.queued[id/64] |= 1 << (id % 64)
}

func (v *VIF) removeAt(i int) {
	id := lrINTID(v.q[i])
	v.queued[id/64] &^= 1 << (id % 64)
	copy(v.q[i:v.nq-1], v.q[i+1:v.nq])
	v.nq--
}

func (v *VIF) isQueued(id uint32) bool { return v.queued[id/64]&(1<<(id%64)) != 0 }

// setUIE requests the underflow maintenance interrupt, or stops it.
func (v *VIF) setUIE(on bool) {
	if on == v.uie {
		return
	}
	v.uie = on
	hcr := v.r.HCR() &^ HCR_UIE
	if on {
		hcr |= HCR_UIE
	}
	v.r.SetHCR(hcr)
}
