// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"slices"
	"testing"

	"github.com/ferry-hv/ferry/gic/vcpuif"
)

// fakePhys is the physical CPU interface: a set of pending INTIDs, most
// urgent first, acknowledged in that order; what was dropped and
// deactivated.
type fakePhys struct {
	pending     []uint32
	active      map[uint32]bool
	dropped     []uint32
	deactivated []uint32
	vif         *vcpuif.Fake // the guest's deactivations of HW entries end active ones here
}

func (f *fakePhys) Ack() uint32 {
	if len(f.pending) == 0 {
		return 1023
	}
	id := f.pending[0]
	f.pending = f.pending[1:]
	f.active[id] = true
	f.vif.Ack(id)
	return id
}
func (f *fakePhys) Drop(id uint32) { f.dropped = append(f.dropped, id) }
func (f *fakePhys) Deactivate(id uint32) {
	f.deactivated = append(f.deactivated, id)
	delete(f.active, id)
}

const (
	testTick    = 26
	testMgmtNIC = 48
	testMaint   = 25
	testKick    = 7
)

func newIRQPath(lrs int) (*irqPath, *fakePhys, *vcpuif.Fake) {
	vf := vcpuif.NewFake(lrs)
	vf.Vmcr = vcpuif.VMCR_VENG1 | 0xff<<vcpuif.VMCR_VPMRShift
	vif := vcpuif.New(vf)
	vif.Enable()
	phys := &fakePhys{active: map[uint32]bool{}, vif: vf}
	p := &irqPath{
		phys: phys, vif: vif,
		priority: func(id uint32) uint8 { return uint8(0x80 + id%8*0x10) },
		tick:     testTick, mgmtNIC: testMgmtNIC, maint: testMaint, kick: testKick,
		enabled: func(id uint32) bool { return id != 7 },
	}
	return p, phys, vf
}

// Ferry's interrupts are acknowledged, dropped and deactivated by Ferry;
// the guest's are dropped, not deactivated, and listed HW-linked with the
// guest's priority; the guest's EOI ends them.
func TestIRQPath(t *testing.T) {
	p, phys, vf := newIRQPath(4)
	ticks, nics := 0, 0
	p.onTick, p.onMgmtNIC = func() { ticks++ }, func() { nics++ }
	// Ferry's first (their priority is higher); one take stops at the
	// guest's first, the next takes the other.
	phys.pending = []uint32{testMgmtNIC, testTick, 27, 33}
	if c := p.take(); c != CauseMgmtNIC || !p.fired || ticks != 1 || nics != 1 || !slices.Equal(phys.pending, []uint32{33}) {
		t.Fatalf("cause %v, fired %v, ticks %d, NIC %d, left pending %v", c, p.fired, ticks, nics, phys.pending)
	}
	if c := p.take(); c != CauseIRQ || p.fired || len(phys.pending) != 0 {
		t.Fatalf("second take: cause %v, fired %v, left pending %v", c, p.fired, phys.pending)
	}
	if !slices.Equal(phys.dropped, []uint32{testMgmtNIC, testTick, 27, 33}) {
		t.Errorf("dropped %v: every acknowledged interrupt's priority", phys.dropped)
	}
	if !slices.Equal(phys.deactivated, []uint32{testMgmtNIC, testTick}) {
		t.Errorf("deactivated %v: Ferry's only", phys.deactivated)
	}
	for _, id := range []uint32{27, 33} {
		found := false
		for i := range vf.N {
			l := vcpuif.DecodeLR(vf.LRs[i])
			if l.VINTID == id && l.HW && l.PINTID == id && l.Priority == p.priority(id) && l.State == vcpuif.Pending {
				found = true
			}
		}
		if !found {
			t.Errorf("INTID %d not listed HW-linked at its priority: %#x", id, vf.LRs[:vf.N])
		}
	}
	// The guest takes both and ends them: the physical interrupts end
	// with them, without Ferry.
	for range 2 {
		vf.GuestEOI(vf.GuestAck())
	}
	slices.Sort(vf.GuestDeactivated)
	if !slices.Equal(vf.GuestDeactivated, []uint32{27, 33}) || len(phys.deactivated) != 2 {
		t.Errorf("guest deactivated %v, Ferry %v", vf.GuestDeactivated, phys.deactivated)
	}
}

func TestIRQPathCauses(t *testing.T) {
	for _, tc := range []struct {
		pending []uint32
		want    Cause
	}{
		{nil, CauseSpurious},
		{[]uint32{27}, CauseIRQ},
		{[]uint32{testMaint}, CauseMaint},
		{[]uint32{testMaint, 27}, CauseIRQ},
		{[]uint32{testTick, 27}, CauseTimer},
		{[]uint32{testMgmtNIC, testTick}, CauseMgmtNIC},
		{[]uint32{testKick}, CauseKick},
		{[]uint32{testKick, 27}, CauseKick},
		{[]uint32{testTick, testKick}, CauseTimer},
	} {
		p, phys, _ := newIRQPath(4)
		phys.pending = tc.pending
		if got := p.take(); got != tc.want {
			t.Errorf("%v: %v, want %v", tc.pending, got, tc.want)
		}
	}
}

// The maintenance interrupt refills the list registers; it is Ferry's,
// deactivated here.
func TestIRQPathMaintenance(t *testing.T) {
	p, phys, vf := newIRQPath(2)
	phys.pending = []uint32{40, 41, 42}
	for range 3 {
		p.take() // one of the guest's each
	}
	if p.vif.Pending() != 1 {
		t.Fatalf("%d queued, want 1", p.vif.Pending())
	}
	vf.GuestEOI(vf.GuestAck()) // one valid left: underflow
	if !vf.Asserted() {
		t.Fatal("no maintenance interrupt")
	}
	phys.pending = []uint32{testMaint}
	if c := p.take(); c != CauseMaint || p.vif.Pending() != 0 || !slices.Contains(phys.deactivated, testMaint) {
		t.Fatalf("cause %v, queue %d, deactivated %v", c, p.vif.Pending(), phys.deactivated)
	}
}

// A physical SGI is not the guest's to deactivate (its SGIs are virtual):
// it is given to it as a virtual one and ended by Ferry. A stuck
// interface is left after maxAcks.
func TestIRQPathSGIAndBound(t *testing.T) {
	p, phys, _ := newIRQPath(4)
	phys.pending = []uint32{3}
	p.take()
	if !slices.Equal(phys.deactivated, []uint32{3}) || len(phys.active) != 0 {
		t.Errorf("physical SGI: deactivated %v, active %v", phys.deactivated, phys.active)
	}
	for range 2 * maxAcks {
		phys.pending = append(phys.pending, testTick)
	}
	p.take()
	if len(phys.pending) != maxAcks {
		t.Errorf("%d acknowledged in one take, want at most %d", 2*maxAcks-len(phys.pending), maxAcks)
	}
}

// The path allocates nothing (STYLE 14).
func TestIRQPathAllocs(t *testing.T) {
	p, phys, vf := newIRQPath(4)
	phys.dropped = make([]uint32, 0, 16)
	phys.deactivated = make([]uint32, 0, 16)
	vf.GuestDeactivated = make([]uint32, 0, 16)
	ids := []uint32{27, testTick, 33}
	queue := make([]uint32, 0, 4)
	n := testing.AllocsPerRun(100, func() {
		phys.pending = append(queue[:0], ids...)
		phys.dropped, phys.deactivated, vf.GuestDeactivated = phys.dropped[:0], phys.deactivated[:0], vf.GuestDeactivated[:0]
		p.take()
		for range 2 {
			vf.GuestEOI(vf.GuestAck())
		}
		p.vif.Refill()
	})
	if n != 0 {
		t.Errorf("%v allocations per take", n)
	}
}

// The guest's SGIs to itself become virtual interrupts (no physical SGI,
// nothing for Ferry to end); disabled ones and ones for other PEs go
// nowhere.
func TestIRQPathGuestSGI(t *testing.T) {
	p, phys, vf := newIRQPath(4)
	const me = 0x8000_0000
	for _, tc := range []struct {
		v    uint64
		want bool
	}{
		{1 | 5<<vcpuif.SGI1R_INTIDShift, true},                 // to itself
		{1 | 7<<vcpuif.SGI1R_INTIDShift, false},                // SGI 7: disabled
		{2 | 5<<vcpuif.SGI1R_INTIDShift, false},                // to CPU 1: none
		{vcpuif.SGI1R_IRM | 6<<vcpuif.SGI1R_INTIDShift, false}, // to everyone else
	} {
		if got := p.sgi(tc.v, me); got != tc.want {
			t.Errorf("%#x: %v, want %v", tc.v, got, tc.want)
		}
	}
	l := vcpuif.DecodeLR(vf.LRs[0])
	if l.VINTID != 5 || l.HW || l.State != vcpuif.Pending || l.Priority != p.priority(5) || vf.LRs[1] != 0 {
		t.Fatalf("LRs %#x", vf.LRs[:4])
	}
	if vf.GuestAck() != 5 {
		t.Fatal("the guest did not get its SGI")
	}
	vf.GuestEOI(5)
	if len(vf.GuestDeactivated) != 0 || len(phys.deactivated) != 0 {
		t.Errorf("a virtual SGI ended a physical interrupt: %v %v", vf.GuestDeactivated, phys.deactivated)
	}
}
