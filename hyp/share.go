// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import "time"

// Ferry's share of the CPU outside a migration. Ferry's goroutines run
// first: the vCPU goroutine waits for them to be idle before it enters the
// guest, and the guest is entered until Ferry's next deadline or
// interrupt. But work that keeps coming (a flood of frames on the
// management link) would keep them from ever being idle, so a goroutine
// that loops on such work calls Yield between rounds, and once Ferry has
// held the CPU for shareFerry the guest is entered all the same, for a
// slice of shareGuest that Ferry's interrupts do not cut short (the
// management NIC's only wakes its poller, which runs after the slice) and
// only the
// guest's own WFI ends early: a guest with nothing to do gives the CPU
// back. So under any load Ferry takes at most shareFerry / (shareFerry +
// shareGuest) of the CPU from a busy guest, and all of it from an idle
// one. During a migration the slices of tracking (track.go) apply
// instead.
const (
	shareFerry = 5 * time.Millisecond
	shareGuest = 10 * time.Millisecond
)

// Share is the vCPU goroutine's state of that policy, on the Nanotime
// clock: host-tested, driven by the run loop (machine.go). Its zero
// value has the slices above.
type Share struct {
	Ferry, Guest time.Duration // 0: shareFerry, shareGuest

	waiting  bool  // Ferry's turn: the vCPU goroutine waits for Ferry to be idle
	since    int64 // when Ferry's turn began
	slice    bool  // the guest runs a slice it is owed
	sliceEnd int64
	idled    bool // the guest executed WFI during its slice
}

func orDefault(d, def time.Duration) int64 {
	if d <= 0 {
		d = def
	}
	return int64(d)
}

// Wait starts Ferry's turn at now: the vCPU goroutine is about to wait
// for Ferry's goroutines to be idle.
func (s *Share) Wait(now int64) {
	s.waiting, s.since, s.slice, s.idled = true, now, false, false
}

// Due reports whether Ferry's turn has lasted its share at now: a
// goroutine that loops on work then hands the CPU to the vCPU goroutine.
func (s *Share) Due(now int64) bool {
	return s.waiting && now-s.since >= orDefault(s.Ferry, shareFerry)
}

// Enter ends Ferry's turn at now: the vCPU goroutine enters the guest,
// because Ferry's goroutines are idle (idle; deadline is their next
// timer, 0 for none) or because Ferry's share is used up. It returns when
// the EL2 timer must take the CPU back (0: never), and whether the guest
// runs a slice (its WFI then traps, to end the slice).
func (s *Share) Enter(now int64, idle bool, deadline int64) (until int64, slice bool) {
	s.waiting, s.idled = false, false
	if idle {
		s.slice = false
		return deadline, false
	}
	s.slice, s.sliceEnd = true, now+orDefault(s.Guest, shareGuest)
	return s.sliceEnd, true
}

// Idled records that the guest executed WFI with nothing pending; it
// reports whether that ends its slice (it does if one runs).
func (s *Share) Idled() bool {
	if s.slice {
		s.idled = true
	}
	return s.slice
}

// Exit says whether an exit at now gives Ferry the CPU: fiq, one of
// Ferry's interrupts took it back (fired: its timer's among them). Outside
// a slice every interrupt of Ferry's does, nothing else; in a slice only
// its end -- the timer, the time passed, or the guest's WFI.
func (s *Share) Exit(now int64, fiq, fired bool) bool {
	if !s.slice {
		return fiq
	}
	if fired || s.idled || now >= s.sliceEnd {
		s.slice, s.idled = false, false
		return true
	}
	return false
}
