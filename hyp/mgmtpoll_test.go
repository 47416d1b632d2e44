// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"testing"
	"time"
)

// fakeLink is a management NIC with work frames waiting: each Poll moves
// one and takes step of Ferry's time.
type fakeLink struct {
	h           *fakeHW
	work        int
	step        time.Duration
	arms        []bool // what Arm answers, in turn (then false)
	polls, ints int
	ours        bool // Interrupt's answer
}

func (l *fakeLink) Poll() bool {
	l.polls++
	if l.work == 0 {
		return false
	}
	l.work--
	l.h.now += int64(l.step)
	return true
}

func (l *fakeLink) Arm() bool {
	if len(l.arms) == 0 {
		return false
	}
	a := l.arms[0]
	l.arms = l.arms[1:]
	return a
}

func (l *fakeLink) Interrupt() bool { l.ints++; return l.ours }

// countBell counts its rings; Wait returns at once.
type countBell struct{ rings int }

func (b *countBell) Wait() {}
func (b *countBell) Ring() { b.rings++ }

// A flood on the management link: the poller works while frames come,
// and once Ferry has held the CPU for its share the guest's vCPU, waiting
// for Ferry to be idle, is woken for its slice -- once, at that round.
func TestMgmtPollerYieldsToTheGuest(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	vcpu := &countBell{}
	tm.Machine.idle = vcpu
	tm.idleWait = true // the vCPU goroutine waits for Ferry to be idle (waitIdle)
	tm.share.Wait(tm.hw.now)
	link := &fakeLink{h: tm.hw, work: 100, step: 100 * time.Microsecond}
	start := tm.hw.now
	if !tm.pollMgmtNIC(link) {
		t.Fatal("the poller did not sleep with no work left")
	}
	if link.work != 0 || link.polls != 101 {
		t.Errorf("%d frames left, %d polls", link.work, link.polls)
	}
	if vcpu.rings != 1 || tm.idleWait || !tm.busy {
		t.Errorf("after %v of Ferry's work: the vCPU woken %d times (want 1), still waiting %v, Ferry busy %v", time.Duration(tm.hw.now-start), vcpu.rings, tm.idleWait, tm.busy)
	}
}

// The poller sleeps only when the NIC has nothing: work that came in while
// it armed the interrupt is polled at once; the NIC's interrupt wakes it,
// another device's does not.
func TestMgmtPollerSleeps(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	link := &fakeLink{h: tm.hw, work: 2, step: time.Microsecond, arms: []bool{true}}
	if tm.pollMgmtNIC(link) {
		t.Error("the poller slept though work came in while it armed the interrupt")
	}
	if !tm.pollMgmtNIC(link) || link.work != 0 {
		t.Errorf("the poller did not sleep once idle (%d frames left)", link.work)
	}
	irq := &countBell{}
	tm.mgmtIRQ = irq
	tm.ServeMgmtNIC(link)
	tm.OnMgmtNIC()
	link.ours = true
	tm.OnMgmtNIC()
	if link.ints != 2 || irq.rings != 1 {
		t.Errorf("%d interrupts taken at the NIC, the poller woken %d times; want 2, 1 (only the NIC's own)", link.ints, irq.rings)
	}
}
