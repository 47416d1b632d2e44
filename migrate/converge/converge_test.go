// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package converge

import (
	"strings"
	"testing"
	"time"
)

const (
	page = 4096.0 + 9
	mibs = 1 << 20
)

// rounds builds rounds of `sent` bytes each, the dirtied page counts given.
func rounds(sent uint64, dirtied ...uint64) []Round {
	r := make([]Round, len(dirtied))
	for i, d := range dirtied {
		r[i] = Round{Sent: sent, Dirtied: d}
	}
	return r
}

func TestExpected(t *testing.T) {
	for _, tc := range []struct {
		pages uint64
		bw    float64
		fixed time.Duration
		want  time.Duration
	}{
		{0, 100 * mibs, 5 * time.Millisecond, 5 * time.Millisecond},
		{256, 4096 * 256 * 10, 0, 100 * time.Millisecond}, // 1 MiB at 10 MiB/s (page of 4096)
		{0, 0, time.Millisecond, time.Millisecond},
		{1, 0, 0, 1<<63 - 1},
	} {
		if got := Expected(tc.pages, 4096, tc.bw, tc.fixed); got != tc.want {
			t.Errorf("Expected(%d pages, %v B/s, %v) = %v, want %v", tc.pages, tc.bw, tc.fixed, got, tc.want)
		}
	}
}

func TestNext(t *testing.T) {
	def := Settings{DowntimeLimit: 30 * time.Millisecond, MaxTime: time.Minute, AutoConverge: true, Fixed: 5 * time.Millisecond}
	noAC := def
	noAC.AutoConverge = false
	bw := 100.0 * mibs // 1 page ≈ 40 µs; 30 ms - 5 ms fixed ≈ 640 pages
	for _, tc := range []struct {
		name     string
		set      Settings
		st       State
		action   Action
		reason   string
		throttle float64
	}{
		{"no round yet", def, State{Bandwidth: bw, PageBytes: page}, Continue, "no round yet", 0},
		{"fits", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 600)}, Switch, "fits", 0},
		{"just over", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 700)}, Continue, "", 0},
		{"idle guest", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 0)}, Switch, "fits", 0},
		{"zero bandwidth, pages dirty", def, State{PageBytes: page, Rounds: rounds(0, 1)}, Continue, "", 0},
		{"shrinking", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 8000, 4000, 2000)}, Continue, "", 0},
		// Stalled at 2000 pages (≈ 85 ms, within 10x the limit): auto-converge
		// first, the switch once the throttle is at its maximum.
		{"stalled, throttle first", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 4000, 2000, 2000, 1990, 2010)}, Continue, "throttle", ThrottleInitial},
		{"stalled, throttle at max", def, State{Bandwidth: bw, PageBytes: page, Throttle: ThrottleMax, Rounds: rounds(64*mibs, 4000, 2000, 2000, 1990, 2010)}, Switch, "stalled", ThrottleMax},
		// Stalled at 1000 pages (≈ 44 ms, within twice the limit): the
		// guest's own hot set; switch without throttling it.
		{"stalled near the limit", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 4000, 1000, 1000, 990, 1010)}, Switch, "stalled", 0},
		{"stalled without auto-converge", noAC, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 4000, 2000, 2000, 1990, 2010)}, Switch, "stalled", 0},
		// Stalled at 100k pages (≈ 4 s): too long to switch; iterate.
		{"stalled too big", noAC, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 1e5, 1e5, 1e5, 1e5)}, Continue, "", 0},
		{"stalled too big, out of time", noAC, State{Elapsed: time.Minute, Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 1e5, 1e5, 1e5, 1e5)}, GiveUp, "did not converge within 1m0s", 0},
		{"fits beats the time limit", def, State{Elapsed: time.Hour, Bandwidth: bw, PageBytes: page, Rounds: rounds(64*mibs, 10)}, Switch, "fits", 0},
		// Dirtying faster than half the sending rate, two rounds: 20 %, then +10 %.
		{"one fast round", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(8*mibs, 20000)}, Continue, "", 0},
		{"two fast rounds", def, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(8*mibs, 20000, 20000)}, Continue, "throttle", 0.2},
		{"two more fast rounds", def, State{Bandwidth: bw, PageBytes: page, Throttle: 0.2, Stepped: 2, Rounds: rounds(8*mibs, 20000, 20000, 20000, 20000)}, Continue, "throttle", 0.3},
		{"one round since the step", def, State{Bandwidth: bw, PageBytes: page, Throttle: 0.2, Stepped: 2, Rounds: rounds(8*mibs, 20000, 20000, 20000)}, Continue, "", 0.2},
		{"capped", def, State{Bandwidth: bw, PageBytes: page, Throttle: 0.95, Rounds: rounds(8*mibs, 20000, 20000)}, Continue, "throttle", ThrottleMax},
		{"fast, no auto-converge", noAC, State{Bandwidth: bw, PageBytes: page, Rounds: rounds(8*mibs, 20000, 20000)}, Continue, "", 0},
		{"fast, out of time", def, State{Elapsed: 2 * time.Minute, Bandwidth: bw, PageBytes: page, Throttle: 0.5, Rounds: rounds(8*mibs, 20000, 20000)}, GiveUp, "did not converge", 0.5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Next(tc.set, tc.st)
			if d.Action != tc.action || !strings.HasPrefix(d.Reason, tc.reason) || (tc.reason == "" && d.Reason != "") || d.Throttle != tc.throttle {
				t.Errorf("Next = %v %q throttle %v (expected %v); want %v %q throttle %v", d.Action, d.Reason, d.Throttle, d.Expected, tc.action, tc.reason, tc.throttle)
			}
		})
	}
}

func TestStalled(t *testing.T) {
	for _, tc := range []struct {
		dirtied []uint64
		want    bool
	}{
		{nil, false},
		{[]uint64{5, 5, 5}, false},            // too few rounds to tell
		{[]uint64{5, 5, 5, 5}, true},          // flat
		{[]uint64{100, 50, 25, 12}, false},    // halving
		{[]uint64{100, 95, 92, 91}, true},     // under 10 % a round
		{[]uint64{100, 95, 92, 80}, false},    // the last shrank enough
		{[]uint64{100, 20, 90, 95, 99}, true}, // grew back above the best
	} {
		if got := Stalled(rounds(1, tc.dirtied...)); got != tc.want {
			t.Errorf("Stalled(%v) = %v, want %v", tc.dirtied, got, tc.want)
		}
	}
}
