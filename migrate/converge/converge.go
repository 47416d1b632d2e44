// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package converge is the pre-copy convergence policy: after each round it
// decides, from numbers only, whether to send another round, to stop the
// guest and send the rest (the switch to stop-and-copy), to slow the guest
// down (auto-converge), or to give up. It is pure: the sender measures,
// this package decides.
//
// The rules follow QEMU's (migration/ram.c, migration_trigger_throttle and
// mig_throttle_guest_down; DESIGN.md): switch when the dirty set fits the
// downtime limit at the measured bandwidth; throttle when the guest dirtied
// more than half of what was sent in a round, twice, starting at 20 % and
// adding 10 % per step up to 99 %; and, the paper's rule, switch when
// rounds stop shrinking, provided the downtime that costs stays within a
// bound (twice the limit at once, ten times once auto-converge can do no
// more). A maximum total time ends a migration that converges by none of
// these.
package converge

import (
	"fmt"
	"math"
	"time"
)

// Auto-converge steps, as QEMU's defaults (cpu-throttle-initial,
// cpu-throttle-increment, max-cpu-throttle, throttle-trigger-threshold).
const (
	ThrottleInitial   = 0.20
	ThrottleIncrement = 0.10
	ThrottleMax       = 0.99
	TriggerThreshold  = 0.50 // dirtied / sent in a round
	triggerRounds     = 2    // rounds over the threshold before each step
)

// Stall detection: a round "did not shrink" when it is not at least
// shrinkRatio smaller than the smallest round before it; stallRounds such
// rounds in a row is a stall.
const (
	shrinkRatio = 0.90
	stallRounds = 3
	nearFit     = 2 // a stalled set within twice the limit switches at once
)

// Settings are one migration's limits.
type Settings struct {
	DowntimeLimit time.Duration // the switch happens when the rest fits this
	MaxTime       time.Duration // pre-copy gives up after this
	AutoConverge  bool
	// StallDowntime is the longest downtime accepted when rounds stop
	// shrinking (0: ten times DowntimeLimit).
	StallDowntime time.Duration
	// Fixed is the part of the downtime that does not depend on the dirty
	// set: the machine state, the destination's restore, the commit.
	Fixed time.Duration
}

// Round is what the sender measured about the round it just finished.
type Round struct {
	Sent    uint64 // bytes sent in the round
	Dirtied uint64 // pages the guest dirtied while it was sent (the next round's size)
}

// State is the migration so far, at the end of a round.
type State struct {
	Elapsed   time.Duration // since the migration started
	Bandwidth float64       // bytes/s the stream moves with the guest stopped (measured)
	PageBytes float64       // bytes on the wire per dirty page (data page plus its share of headers)
	Throttle  float64       // the current cut of the guest's CPU time
	Rounds    []Round       // every round so far, oldest first; the last is the one just finished
	// Stepped is len(Rounds) when the throttle last rose: only the rounds
	// after it count towards the next step.
	Stepped int
}

// Action is what to do next.
type Action int

const (
	Continue Action = iota // send another round (with Throttle)
	Switch                 // stop the guest and send the rest
	GiveUp                 // end the migration, the guest running on at the source
)

func (a Action) String() string {
	switch a {
	case Continue:
		return "continue"
	case Switch:
		return "switch"
	case GiveUp:
		return "give up"
	}
	return fmt.Sprintf("Action(%d)", int(a))
}

// Decision is the policy's answer.
type Decision struct {
	Action   Action
	Reason   string        // "fits", "stalled" for Switch; the error for GiveUp; "throttle" when Throttle rose
	Throttle float64       // the cut of the guest's CPU time from now on
	Expected time.Duration // the downtime if the guest were stopped now
}

// Expected is the downtime of stopping the guest with pages dirty.
func Expected(pages uint64, pageBytes, bandwidth float64, fixed time.Duration) time.Duration {
	if bandwidth <= 0 {
		if pages == 0 {
			return fixed
		}
		return time.Duration(1<<63 - 1)
	}
	return fixed + time.Duration(float64(pages)*pageBytes/bandwidth*float64(time.Second))
}

// Next decides after a round. It never lowers the throttle: a guest that
// was too fast once stays slowed until the end, as QEMU does.
func Next(set Settings, st State) Decision {
	d := Decision{Throttle: st.Throttle}
	if len(st.Rounds) == 0 {
		d.Reason = "no round yet"
		return d
	}
	last := st.Rounds[len(st.Rounds)-1]
	d.Expected = Expected(last.Dirtied, st.PageBytes, st.Bandwidth, set.Fixed)
	if d.Expected <= set.DowntimeLimit {
		d.Action, d.Reason = Switch, "fits"
		return d
	}
	stallLimit := set.StallDowntime
	if stallLimit == 0 {
		stallLimit = 10 * set.DowntimeLimit
	}
	// A stalled dirty set that nearly fits is the guest's own hot set
	// (an idle kernel's housekeeping): throttling cannot shrink it, so
	// switch now rather than slow the guest for nothing. A larger one is
	// throttled first, and switched once the throttle can do no more.
	stalled := Stalled(st.Rounds)
	if stalled && (d.Expected <= nearFit*set.DowntimeLimit ||
		d.Expected <= stallLimit && (!set.AutoConverge || st.Throttle >= ThrottleMax)) {
		d.Action, d.Reason = Switch, "stalled"
		return d
	}
	if set.MaxTime > 0 && st.Elapsed >= set.MaxTime {
		d.Action = GiveUp
		d.Reason = fmt.Sprintf("did not converge within %v: %d pages dirtied in the last round, %v of downtime at the measured %s (limit %v)",
			set.MaxTime, last.Dirtied, d.Expected.Round(time.Millisecond), rate(st.Bandwidth), set.DowntimeLimit)
		return d
	}
	if set.AutoConverge {
		if t, ok := throttle(st); ok {
			d.Throttle, d.Reason = t, "throttle"
		}
	}
	return d
}

// throttle applies QEMU's trigger: since the last step, the guest dirtied
// more than TriggerThreshold of what a round sent in triggerRounds rounds,
// or the rounds stalled.
func throttle(st State) (float64, bool) {
	since := st.Rounds[min(max(st.Stepped, 0), len(st.Rounds)):]
	if st.Throttle >= ThrottleMax {
		return st.Throttle, false
	}
	high := 0
	for _, r := range since {
		if float64(r.Dirtied)*st.PageBytes > TriggerThreshold*float64(r.Sent) {
			high++
		}
	}
	if high < triggerRounds && !Stalled(since) {
		return st.Throttle, false
	}
	if st.Throttle == 0 {
		return ThrottleInitial, true
	}
	// In whole per cent, as QEMU counts it.
	return min(math.Round(100*(st.Throttle+ThrottleIncrement))/100, ThrottleMax), true
}

// Stalled reports whether the last stallRounds rounds each failed to
// shrink the dirty set below shrinkRatio of the smallest before it.
func Stalled(rounds []Round) bool {
	if len(rounds) <= stallRounds {
		return false
	}
	for i := len(rounds) - stallRounds; i < len(rounds); i++ {
		best := rounds[0].Dirtied
		for _, r := range rounds[1:i] {
			best = min(best, r.Dirtied)
		}
		if float64(rounds[i].Dirtied) < shrinkRatio*float64(best) {
			return false
		}
	}
	return true
}

func rate(bps float64) string { return fmt.Sprintf("%.1f MiB/s", bps/(1<<20)) }
