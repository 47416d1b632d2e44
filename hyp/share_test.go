// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"testing"
	"time"
)

// sim drives Share as the run loop does (machine.go's Run,
// waitIdle, guestIdle and the NIC poller's Yield), over a fake clock:
// Ferry's goroutines work in steps of 100 us while work says they have
// some, calling Yield between steps; the guest computes (busy) or
// executes WFI at once; Ferry's NIC interrupts every nic (0: never).
type sim struct {
	s         Share
	now       int64
	work      func(now int64) bool
	busy      bool
	nic       time.Duration
	nextNIC   int64
	guest     int64 // time the guest computed
	ferry     int64 // time Ferry's goroutines worked
	nicExits  int   // NIC interrupts while the guest ran
	nicTaken  int   // of them that gave Ferry the CPU
	turns     int   // Ferry's turns
	longTurn  int64 // the longest of them
	slices    int   // slices entered because Ferry's share was used
	sliceCuts int   // slices ended before their time by anything but WFI
}

const step = int64(100 * time.Microsecond)

func (m *sim) run(total time.Duration) {
	m.s = Share{}
	if m.nic > 0 {
		m.nextNIC = int64(m.nic)
	}
	m.s.Wait(m.now)
	for m.now < int64(total) {
		// Ferry's turn: its goroutines run until idle or Yield finds
		// the share used.
		start := m.now
		m.turns++
		for m.work(m.now) && !m.s.Due(m.now) {
			m.now += step
			m.ferry += step
		}
		m.longTurn = max(m.longTurn, m.now-start)
		until, slice := m.s.Enter(m.now, !m.work(m.now), 0)
		if slice {
			m.slices++
		}
		// The guest runs until an exit gives Ferry the CPU.
		for {
			if !m.busy && slice && m.s.Idled() {
				if !m.s.Exit(m.now, false, false) {
					panic("the guest's WFI did not end its slice")
				}
				break
			}
			e, nic := until, false
			if m.nextNIC > 0 && (e == 0 || m.nextNIC < e) {
				e, nic = m.nextNIC, true
			}
			if e == 0 {
				e = int64(total) // nothing takes the CPU back
			}
			if m.busy {
				m.guest += e - m.now
			}
			m.now = e
			if nic {
				m.nextNIC += int64(m.nic)
				m.nicExits++
			}
			if m.s.Exit(m.now, true, !nic) {
				if nic {
					m.nicTaken++
				}
				if slice && m.now < until {
					m.sliceCuts++
				}
				break
			}
			if m.now >= int64(total) {
				return
			}
		}
		m.s.Wait(m.now)
	}
}

func always(int64) bool { return true }

// A flood keeps Ferry's goroutines busy for ever, and the NIC interrupts
// every 300 us: the guest still gets two thirds of the CPU, in whole
// slices the NIC does not cut, and Ferry one third, in turns of at most
// its share.
func TestShareFlood(t *testing.T) {
	m := &sim{work: always, busy: true, nic: 300 * time.Microsecond}
	m.run(time.Second)
	g := float64(m.guest) / float64(m.now)
	f := float64(m.ferry) / float64(m.now)
	t.Logf("guest %.0f%%, Ferry %.0f%% of the CPU; %d slices, %d NIC interrupts during them, %d taken; longest turn %v",
		100*g, 100*f, m.slices, m.nicExits, m.nicTaken, time.Duration(m.longTurn))
	if g < 0.65 || f < 0.3 {
		t.Fatalf("guest %.2f, Ferry %.2f of the CPU; want 2/3 and 1/3", g, f)
	}
	if m.sliceCuts != 0 || m.nicTaken != 0 {
		t.Fatalf("the NIC cut %d slices short (%d interrupts taken)", m.sliceCuts, m.nicTaken)
	}
	if m.longTurn > int64(shareFerry)+step {
		t.Fatalf("Ferry held the CPU for %v", time.Duration(m.longTurn))
	}
}

// Under the same flood a guest with nothing to do gives its slices back
// at once (its WFI traps): Ferry gets nearly all of the CPU.
func TestShareFloodIdleGuest(t *testing.T) {
	m := &sim{work: always, busy: false, nic: 300 * time.Microsecond}
	m.run(time.Second)
	if f := float64(m.ferry) / float64(m.now); f < 0.99 {
		t.Fatalf("Ferry had %.2f of the CPU beside an idle guest", f)
	}
}

// Without a flood nothing changes: Ferry's work (1 ms every 50 ms, as the
// NIC brings it) runs as soon as the NIC interrupts, the guest has the
// rest, and no slice is ever forced.
func TestShareQuiet(t *testing.T) {
	m := &sim{busy: true, nic: 50 * time.Millisecond}
	m.work = func(now int64) bool {
		since := now % int64(50*time.Millisecond)
		return now >= int64(50*time.Millisecond) && since < int64(time.Millisecond)
	}
	m.run(time.Second)
	if m.slices != 0 || m.nicTaken != m.nicExits || m.nicExits < 19 {
		t.Fatalf("%d slices forced; %d of %d NIC interrupts gave Ferry the CPU", m.slices, m.nicTaken, m.nicExits)
	}
	if f := float64(m.ferry) / float64(m.now); f < 0.015 || f > 0.025 {
		t.Fatalf("Ferry had %.3f of the CPU for 2%% of work", f)
	}
}

// Enter after an idle wait arms Ferry's own deadline and no slice; Due
// is false outside Ferry's turn.
func TestShareIdleEnter(t *testing.T) {
	var s Share
	s.Wait(0)
	if s.Due(int64(shareFerry) - 1) {
		t.Fatal("due before its time")
	}
	if until, slice := s.Enter(10, true, 12345); until != 12345 || slice {
		t.Fatalf("idle enter: until %d, slice %v", until, slice)
	}
	if s.Due(int64(time.Hour)) || s.Idled() {
		t.Fatal("due or in a slice while the guest runs on Ferry's idleness")
	}
	if !s.Exit(20, true, false) || s.Exit(21, false, false) {
		t.Fatal("outside a slice every FIQ and only a FIQ gives Ferry the CPU")
	}
}

// TestThrottleWait: a throttled vCPU other than vCPU 0 waits so that the
// guest keeps 1-cut of its CPU, never more than a slice at a time.
func TestThrottleWait(t *testing.T) {
	for _, tc := range []struct {
		ran  time.Duration
		cut  float64
		want time.Duration
	}{
		{4 * time.Millisecond, 0, 0},
		{4 * time.Millisecond, 0.2, time.Millisecond},
		{4 * time.Millisecond, 0.5, 4 * time.Millisecond},
		{4 * time.Millisecond, 0.9, maxThrottleWait},
		{4 * time.Millisecond, 1, maxThrottleWait},
		{0, 0.5, 0},
	} {
		got := throttleWait(tc.ran, uint32(tc.cut*cutOne))
		if d := got - tc.want; d < -time.Microsecond || d > time.Microsecond {
			t.Errorf("ran %v, cut %v: wait %v, want %v", tc.ran, tc.cut, got, tc.want)
		}
	}
	var m Machine
	m.throttle(0.25)
	if got := m.trk.cut.Load(); got != cutOne/4 {
		t.Errorf("throttle 0.25: cut %d, want %d", got, cutOne/4)
	}
}
