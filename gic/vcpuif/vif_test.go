// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

import (
	"math/rand/v2"
	"slices"
	"testing"
)

// guestOn is a Fake whose guest has Group 1 enabled and masks nothing.
func guestOn(n int) (*Fake, *VIF) {
	f := NewFake(n)
	f.Vmcr = VMCR_VENG1 | 0xff<<VMCR_VPMRShift
	v := New(f)
	v.Enable()
	return f, v
}

// hw is Ferry acknowledging physical interrupt id and injecting it.
func hw(f *Fake, v *VIF, id uint32, prio uint8) Outcome {
	f.Ack(id)
	return v.Inject(IRQ{INTID: id, Priority: prio, HW: true})
}

// handle is the guest taking every interrupt it can, most urgent first,
// ending each (EOImode 0), with Ferry refilling before each "entry"; it
// returns the INTIDs in the order the guest saw them.
func handle(t *testing.T, f *Fake, v *VIF) []uint32 {
	t.Helper()
	var seen []uint32
	for range 4 * maxQueue {
		v.Refill()
		if f.Asserted() {
			v.Maintenance()
		}
		id := f.GuestAck()
		if id == 1023 {
			return seen
		}
		seen = append(seen, id)
		f.GuestEOI(id)
	}
	t.Fatal("the guest never ran out of interrupts")
	return nil
}

func TestInjectHWAndGuestDeactivates(t *testing.T) {
	f, v := guestOn(4)
	if got := hw(f, v, 27, 0xa0); got != Listed {
		t.Fatalf("Inject = %v, want listed", got)
	}
	want := LR{VINTID: 27, PINTID: 27, HW: true, Group1: true, Priority: 0xa0, State: Pending}
	if got := DecodeLR(f.LRs[0]); got != want {
		t.Fatalf("LR0 = %+v, want %+v", got, want)
	}
	if f.ELRSR()&1 != 0 {
		t.Fatal("ELRSR says LR0 is free")
	}
	if id := f.GuestAck(); id != 27 {
		t.Fatalf("guest acknowledged %d", id)
	}
	if !f.PhysActive[27] {
		t.Fatal("the physical interrupt is no longer active while the guest handles it")
	}
	f.GuestEOI(27)
	if f.PhysActive[27] || !slices.Equal(f.GuestDeactivated, []uint32{27}) {
		t.Fatalf("the guest's EOI did not deactivate the physical interrupt: %v", f.GuestDeactivated)
	}
	if len(f.Deactivated) != 0 {
		t.Errorf("Ferry deactivated %v itself: the guest's EOI does it", f.Deactivated)
	}
	if f.ELRSR()&1 == 0 {
		t.Error("LR0 not free after the guest ended its interrupt")
	}
}

func TestOverflowQueuesAndMaintenanceRefills(t *testing.T) {
	f, v := guestOn(4)
	prios := map[uint32]uint8{40: 0xa0, 41: 0x90, 42: 0xb0, 43: 0x80, 44: 0xc0, 45: 0x70}
	order := []uint32{40, 41, 42, 43, 44, 45}
	var outs []Outcome
	for _, id := range order {
		outs = append(outs, hw(f, v, id, prios[id]))
	}
	// 45 (0x70) arrives last, with the registers full: it takes 42's
	// (0xb0, the least urgent listed) and 42 waits with 44.
	if want := []Outcome{Listed, Listed, Listed, Listed, Queued, Listed}; !slices.Equal(outs, want) {
		t.Fatalf("outcomes %v, want %v", outs, want)
	}
	if v.Pending() != 2 || v.Stats.Evicted != 1 {
		t.Fatalf("queue %d, evicted %d; want 2 and 1", v.Pending(), v.Stats.Evicted)
	}
	if f.Hcr&HCR_UIE == 0 {
		t.Fatal("queue not empty and no underflow maintenance requested")
	}
	if f.Asserted() {
		t.Fatal("maintenance asserted with every list register valid")
	}
	// The guest ends three: one valid register left, the underflow
	// condition holds.
	for range 3 {
		f.GuestEOI(f.GuestAck())
	}
	if !f.Asserted() {
		t.Fatal("underflow maintenance not asserted with one valid list register")
	}
	v.Maintenance()
	if v.Pending() != 0 || f.Hcr&HCR_UIE != 0 || f.Asserted() {
		t.Fatalf("after maintenance: queue %d, HCR %#x, asserted %v", v.Pending(), f.Hcr, f.Asserted())
	}
	rest := handle(t, f, v)
	if want := []uint32{40, 42, 44}; !slices.Equal(rest, want) {
		t.Errorf("the guest then took %v, want %v", rest, want)
	}
	for id := range prios {
		if f.PhysActive[id] {
			t.Errorf("INTID %d still active at the physical GIC", id)
		}
	}
	if len(f.GuestDeactivated) != 6 || len(f.Deactivated) != 0 {
		t.Errorf("guest deactivated %v, Ferry %v", f.GuestDeactivated, f.Deactivated)
	}
}

func TestPriorityOrder(t *testing.T) {
	f, v := guestOn(2)
	ids := []uint32{50, 51, 52, 53, 54, 55, 56, 57}
	prios := []uint8{0xc0, 0xa0, 0xc0, 0x80, 0xa0, 0xe0, 0x80, 0xa0}
	for i, id := range ids {
		hw(f, v, id, prios[i])
	}
	// The queue: most urgent first; among equals, first come first served
	// (an evicted entry came before those queued after it).
	var queue []uint32
	for _, e := range v.q[:v.nq] {
		queue = append(queue, lrINTID(e))
	}
	if want := []uint32{51, 54, 57, 50, 52, 55}; !slices.Equal(queue, want) {
		t.Errorf("queue %v, want %v", queue, want)
	}
	// The guest takes them most urgent first (which of two listed
	// interrupts of one priority comes first is the GIC's choice).
	got := handle(t, f, v)
	prio := map[uint32]uint8{}
	for i, id := range ids {
		prio[id] = prios[i]
	}
	for i := 1; i < len(got); i++ {
		if prio[got[i]] < prio[got[i-1]] {
			t.Fatalf("guest took %v: %d (%#x) after %d (%#x)", got, got[i], prio[got[i]], got[i-1], prio[got[i-1]])
		}
	}
	if len(got) != len(ids) {
		t.Errorf("guest took %v, want all of %v", got, ids)
	}
}

func TestNeverTwice(t *testing.T) {
	f, v := guestOn(1)
	hw(f, v, 33, 0xa0)
	if got := v.Inject(IRQ{INTID: 33, Priority: 0xa0, HW: true}); got != Already {
		t.Fatalf("listed again: %v", got)
	}
	hw(f, v, 34, 0xa0)
	if got := v.Inject(IRQ{INTID: 34, Priority: 0xa0, HW: true}); got != Already || v.Pending() != 1 {
		t.Fatalf("queued again: %v, queue %d", got, v.Pending())
	}
	// 33 active in the guest, its next instance (its active state ended at
	// the distributor behind the guest's back) waits: never two entries.
	if f.GuestAck() != 33 {
		t.Fatal("guest did not take 33")
	}
	v.Refill()
	if got := hw(f, v, 33, 0xa0); got != Queued {
		t.Fatalf("33 again while the guest has it active: %v, want queued", got)
	}
	v.Refill()
	if n := countINTID(f, 33); n != 1 {
		t.Fatalf("33 in %d list registers", n)
	}
	f.GuestEOI(33)
	if got := handle(t, f, v); !slices.Equal(got, []uint32{34, 33}) {
		t.Fatalf("guest then took %v, want [34 33]", got)
	}
}

func countINTID(f *Fake, id uint32) int {
	n := 0
	for i := range f.N {
		if !empty(f.LRs[i]) && lrINTID(f.LRs[i]) == id {
			n++
		}
	}
	return n
}

func TestVirtualSGIPendingAgain(t *testing.T) {
	f, v := guestOn(4)
	sgi := IRQ{INTID: 1, Priority: 0xa0}
	if got := v.Inject(sgi); got != Listed {
		t.Fatalf("SGI: %v", got)
	}
	if DecodeLR(f.LRs[0]).HW {
		t.Fatal("an SGI listed as HW")
	}
	f.GuestAck()
	if got := v.Inject(sgi); got != Repended {
		t.Fatalf("SGI while active: %v, want repended", got)
	}
	if DecodeLR(f.LRs[0]).State != PendingActive || countINTID(f, 1) != 1 {
		t.Fatalf("LR0 %+v", DecodeLR(f.LRs[0]))
	}
	f.GuestEOI(1)
	if got := handle(t, f, v); !slices.Equal(got, []uint32{1}) {
		t.Fatalf("guest took %v after its EOI, want the second SGI", got)
	}
}

func TestRefused(t *testing.T) {
	f, v := guestOn(4)
	for _, irq := range []IRQ{{INTID: 1020}, {INTID: 1023, HW: true}, {INTID: 3, HW: true}} {
		if got := v.Inject(irq); got != Refused {
			t.Errorf("%+v: %v", irq, got)
		}
	}
	if f.ELRSR() != 0xf || v.Pending() != 0 {
		t.Error("a refused interrupt changed something")
	}
}

func TestResetDeactivatesWhatFerryAcknowledged(t *testing.T) {
	f, v := guestOn(2)
	f.Ap1r[0], f.Hcr = 1<<20, f.Hcr|3<<HCR_EOIcountShift
	hw(f, v, 27, 0xa0)
	hw(f, v, 40, 0xa0)
	v.Inject(IRQ{INTID: 2, Priority: 0x90}) // a virtual SGI: evicts 40
	hw(f, v, 41, 0xb0)
	f.GuestAck() // the SGI, active
	v.Reset()
	slices.Sort(f.Deactivated)
	if want := []uint32{27, 40, 41}; !slices.Equal(f.Deactivated, want) {
		t.Fatalf("deactivated %v, want %v (each HW interrupt, listed or queued, once)", f.Deactivated, want)
	}
	for i := range f.N {
		if f.LRs[i] != 0 {
			t.Errorf("LR%d = %#x after Reset", i, f.LRs[i])
		}
	}
	if v.Pending() != 0 || f.Hcr&(HCR_UIE|HCR_EOIcount) != 0 || f.Hcr&HCR_En == 0 || f.Ap1r[0] != 0 || f.Vmcr != 0 {
		t.Errorf("queue %d, HCR %#x, AP1R0 %#x, VMCR %#x", v.Pending(), f.Hcr, f.Ap1r[0], f.Vmcr)
	}
}

// The maintenance interrupt never fires when it cannot help: with one list
// register, or with every queued entry waiting for an INTID the guest has
// active, the underflow condition would hold at every entry and the guest
// would never run.
func TestNoMaintenanceStorm(t *testing.T) {
	f, v := guestOn(1)
	hw(f, v, 40, 0xa0)
	hw(f, v, 41, 0xa0)
	if v.Pending() != 1 || f.Hcr&HCR_UIE != 0 || f.Asserted() {
		t.Fatalf("one list register: queue %d, HCR %#x, asserted %v", v.Pending(), f.Hcr, f.Asserted())
	}
	f.GuestEOI(f.GuestAck())
	v.Refill() // the next exit
	if got := handle(t, f, v); !slices.Equal(got, []uint32{41}) {
		t.Fatalf("then %v", got)
	}

	f, v = guestOn(4)
	hw(f, v, 33, 0xa0)
	f.GuestAck()
	if got := hw(f, v, 33, 0xa0); got != Queued { // its next instance
		t.Fatalf("33 again: %v", got)
	}
	if f.Hcr&HCR_UIE != 0 || f.Asserted() {
		t.Fatalf("only a blocked entry queued: HCR %#x, asserted %v", f.Hcr, f.Asserted())
	}
}

func TestRefillEmptyQueueReadsNothing(t *testing.T) {
	f, v := guestOn(4)
	hw(f, v, 27, 0xa0)
	n := f.Accesses
	v.Refill()
	if f.Accesses != n {
		t.Errorf("Refill with an empty queue made %d register accesses", f.Accesses-n)
	}
}

// The common injection -- the list registers empty, the UIE bit as it
// was -- reads ICH_ELRSR_EL2 once and writes one list register: each
// access to the interface is a system register access on the exit path.
func TestInjectAccesses(t *testing.T) {
	f, v := guestOn(4)
	n := f.Accesses
	if got := hw(f, v, 27, 0xa0); got != Listed {
		t.Fatalf("27: %v", got)
	}
	if f.Accesses-n != 2 {
		t.Errorf("an injection into empty list registers made %d register accesses, want 2 (ELRSR, the LR)", f.Accesses-n)
	}
}

// checkInvariants checks VIF's documented invariants against the model;
// the one on priorities only after a refill (filled): the guest ending a
// Pending-and-Active virtual interrupt leaves it pending on its own.
func checkInvariants(t *testing.T, f *Fake, v *VIF, filled bool) {
	t.Helper()
	seen := map[uint32]bool{}
	worstPending := -1
	for i := range f.N {
		lr := f.LRs[i]
		if empty(lr) {
			continue
		}
		id := lrINTID(lr)
		if seen[id] {
			t.Fatalf("INTID %d in two list registers: %#x", id, f.LRs[:f.N])
		}
		seen[id] = true
		if lrState(lr) == Pending {
			worstPending = max(worstPending, int(lrPrio(lr)))
			if v.isQueued(id) {
				t.Fatalf("INTID %d pending in a list register and queued", id)
			}
		}
		if lr&LR_HW != 0 && lrState(lr) == PendingActive {
			t.Fatalf("HW entry pending and active: %#x", lr)
		}
	}
	for _, e := range v.q[:v.nq] {
		if filled && !seen[lrINTID(e)] && int(lrPrio(e)) < worstPending {
			t.Fatalf("queued %#x more urgent than a listed pending entry (priority %#x)", e, worstPending)
		}
	}
	valid := 0
	for i := range f.N {
		if !empty(f.LRs[i]) {
			valid++
		}
	}
	if filled && (f.Hcr&HCR_UIE != 0) != (v.nq != 0 && valid >= 2) {
		t.Fatalf("UIE %v with %d queued and %d valid list registers", f.Hcr&HCR_UIE != 0, v.nq, valid)
	}
	if v.nq == 0 && f.Hcr&HCR_UIE != 0 {
		t.Fatal("UIE with nothing queued")
	}
}

// A random mix of interrupts, acknowledgements and ends keeps the
// invariants, delivers every interrupt and leaves no physical interrupt
// active.
func TestRandomKeepsInvariants(t *testing.T) {
	for seed := range uint64(50) {
		r := rand.New(rand.NewPCG(seed, 1))
		f, v := guestOn(1 + r.IntN(8))
		var active []uint32
		for range 400 {
			switch r.IntN(4) {
			case 0, 1:
				id := uint32(16 + r.IntN(24))
				if !f.PhysActive[id] {
					hw(f, v, id, uint8(r.IntN(8))<<4)
				}
				if r.IntN(4) == 0 {
					v.Inject(IRQ{INTID: uint32(r.IntN(16)), Priority: uint8(r.IntN(8)) << 4})
				}
			case 2:
				if id := f.GuestAck(); id != 1023 {
					active = append(active, id)
				}
			case 3:
				if n := len(active); n > 0 { // ends the most recent first, as handlers nest
					f.GuestEOI(active[n-1])
					active = active[:n-1]
				}
			}
			filled := r.IntN(3) == 0
			if filled {
				v.Refill()
			}
			if f.Asserted() {
				v.Maintenance()
				filled = true
				if f.Asserted() {
					t.Fatalf("seed %d: the maintenance interrupt still asserted after Maintenance: it would fire at every entry", seed)
				}
			}
			checkInvariants(t, f, v, filled)
		}
		for i := len(active) - 1; i >= 0; i-- {
			f.GuestEOI(active[i])
		}
		handle(t, f, v)
		if v.Pending() != 0 {
			t.Fatalf("seed %d: %d interrupts never delivered", seed, v.Pending())
		}
		for id, a := range f.PhysActive {
			if a {
				t.Fatalf("seed %d: INTID %d left active at the physical GIC", seed, id)
			}
		}
		if f.Hcr&HCR_EOIcount != 0 {
			t.Fatalf("seed %d: the guest ended an interrupt in no list register", seed)
		}
	}
}

// The interrupt path allocates nothing (STYLE 14): inject, the guest
// handling it, refill and maintenance, with and without overflow.
func TestInjectAllocs(t *testing.T) {
	f, v := guestOn(2)
	ids := []uint32{33, 34, 35, 36}
	n := testing.AllocsPerRun(100, func() {
		for i, id := range ids {
			hw(f, v, id, uint8(0x80+i*0x10))
		}
		v.Inject(IRQ{INTID: 1, Priority: 0x90})
		for range 8 {
			v.Refill()
			if f.Asserted() {
				v.Maintenance()
			}
			if id := f.GuestAck(); id != 1023 {
				f.GuestEOI(id)
			}
		}
	})
	if n != 0 {
		t.Errorf("%v allocations per run", n)
	}
	if f.Deactivated != nil || len(f.GuestDeactivated) == 0 {
		t.Fatal("the loop did not deliver")
	}
}

func BenchmarkInjectHW(b *testing.B) {
	f, v := guestOn(4)
	f.GuestDeactivated = make([]uint32, 0, 1)
	for b.Loop() {
		f.Ack(27)
		v.Inject(IRQ{INTID: 27, Priority: 0xa0, HW: true})
		f.GuestEOI(f.GuestAck())
		f.GuestDeactivated = f.GuestDeactivated[:0]
	}
}

func TestGuestPending(t *testing.T) {
	f, v := guestOn(2)
	if v.GuestPending() {
		t.Fatal("nothing listed, pending")
	}
	hw(f, v, 33, 0xa0)
	if !v.GuestPending() {
		t.Fatal("33 listed, not pending")
	}
	f.Vmcr = VMCR_VENG1 | 0xa0<<VMCR_VPMRShift // masks 0xa0
	if v.GuestPending() {
		t.Fatal("masked by the priority mask, pending")
	}
	f.Vmcr = 0xff << VMCR_VPMRShift // Group 1 off
	if v.GuestPending() {
		t.Fatal("Group 1 disabled, pending")
	}
	f.Vmcr = VMCR_VENG1 | 0xff<<VMCR_VPMRShift
	f.GuestAck()
	if v.GuestPending() {
		t.Fatal("active only, pending")
	}
	hw(f, v, 34, 0xa0)
	hw(f, v, 35, 0xa0) // queued
	f.GuestAck()
	if !v.GuestPending() {
		t.Fatal("one queued, not pending")
	}
}

func TestClear(t *testing.T) {
	f := NewFake(4)
	f.PREbits = 6
	for i := range f.LRs {
		f.LRs[i] = 0x7fff_ffff_ffff_ffff // garbage
	}
	f.Ap0r, f.Ap1r, f.Vmcr, f.Hcr = [4]uint64{1, 2}, [4]uint64{3, 4}, 0xff, HCR_UIE|HCR_EOIcount
	v := New(f)
	v.Clear()
	v.Enable()
	if [4]uint64(f.LRs[:4]) != ([4]uint64{}) || f.Ap0r != ([4]uint64{}) || f.Ap1r != ([4]uint64{}) || f.Vmcr != 0 || f.Hcr != HCR_En {
		t.Fatalf("LRs %#x AP0R %v AP1R %v VMCR %#x HCR %#x", f.LRs[:4], f.Ap0r, f.Ap1r, f.Vmcr, f.Hcr)
	}
	if len(f.Deactivated) != 0 {
		t.Errorf("Clear deactivated %v", f.Deactivated)
	}
}
