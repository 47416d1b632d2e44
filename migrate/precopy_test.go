// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// A guest that keeps rewriting a small region while it moves: several
// rounds re-send it, the last with the guest stopped, and the destination
// ends up with exactly the source's memory at the stop.
func TestPrecopyDirtyingGuest(t *testing.T) {
	fp := testFingerprint()
	src, dst, _ := newMachines(fp)
	base := fp.RAM[0].Base
	hot := uint64(64) // pages the guest keeps rewriting
	src.guest = func(s *fakeSource) {
		// A few pages per step, cycling over the hot region.
		for i := range uint64(3) {
			s.write(base+((uint64(s.steps)*3+i)%hot)*PageSize, byte(s.steps))
		}
	}
	a, b := net.Pipe()
	s, r := migrateWith(t, context.Background(), api.MigrateRequest{DowntimeLimit: time.Hour, MaxTime: 20 * time.Second}, a, b, src, dst, nil)
	if s.err != nil || r.err != nil {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	if err := src.mem.equal(dst.mem); err != nil {
		t.Fatal("destination RAM:", err)
	}
	if src.writesWhilePaused != 0 || src.steps == 0 {
		t.Fatalf("guest: %d writes while paused, %d steps", src.writesWhilePaused, src.steps)
	}
	rep := s.rep
	last := rep.Rounds[len(rep.Rounds)-1]
	if len(rep.Rounds) < 2 || !last.Stopped || last.Pages == 0 || rep.Switch != "fits" {
		t.Fatalf("rounds %+v, switch %q", rep.Rounds, rep.Switch)
	}
	if rep.Faults == 0 || rep.Faults > hot*uint64(len(rep.Rounds)) {
		t.Fatalf("%d dirty faults for %d hot pages over %d rounds", rep.Faults, hot, len(rep.Rounds))
	}
	if r.rep.Rounds != len(rep.Rounds) {
		t.Fatalf("destination counted %d rounds, source %d", r.rep.Rounds, len(rep.Rounds))
	}
}

// With a downtime limit below the fixed part of the downtime (12 ms), a
// guest whose dirty set stays flat and small is switched over when rounds
// stall: its expected downtime is within ten times the limit.
func TestPrecopyStallsThenSwitches(t *testing.T) {
	fp := smallFingerprint()
	src, dst, _ := newMachines(fp)
	base := fp.RAM[0].Base
	src.guest = func(s *fakeSource) {
		for i := range uint64(16) {
			s.write(base+i*PageSize, byte(s.steps))
		}
	}
	a, b := net.Pipe()
	s, r := migrateWith(t, context.Background(), api.MigrateRequest{DowntimeLimit: 2 * time.Millisecond, MaxTime: 20 * time.Second, NoAutoConverge: true}, a, b, src, dst, nil)
	if s.err != nil || r.err != nil {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	if s.rep.Switch != "stalled" || len(s.rep.Rounds) < 5 {
		t.Fatalf("switch %q after %d rounds", s.rep.Switch, len(s.rep.Rounds))
	}
	if err := src.mem.equal(dst.mem); err != nil {
		t.Fatal(err)
	}
}

// A guest too fast to converge, without auto-converge, ends at the maximum
// time: the guest runs on at the source, tracking off, nothing resumed on
// the destination.
func TestPrecopyMaxTime(t *testing.T) {
	fp := testFingerprint()
	src, dst, _ := newMachines(fp)
	base := fp.RAM[0].Base
	src.guest = func(s *fakeSource) {
		for i := range uint64(2000) {
			s.write(base+(uint64(s.steps)*2000+i)%(8192)*PageSize, byte(s.steps))
		}
	}
	a, b := net.Pipe()
	start := time.Now()
	s, r := migrateWith(t, context.Background(), api.MigrateRequest{DowntimeLimit: time.Nanosecond, MaxTime: 300 * time.Millisecond, NoAutoConverge: true}, a, b, src, dst, nil)
	failed(t, s, r, src, dst, false)
	if !strings.Contains(s.err.Error(), "did not converge within") {
		t.Fatalf("send: %v", s.err)
	}
	if el := time.Since(start); el > 10*time.Second {
		t.Fatalf("took %v", el)
	}
}

// Auto-converge raises the throttle step by step on a guest that dirties
// faster than half of what is sent; the fake guest slows as told, and the
// migration converges.
func TestPrecopyAutoConverge(t *testing.T) {
	fp := testFingerprint()
	src, dst, _ := newMachines(fp)
	base := fp.RAM[0].Base
	src.guest = func(s *fakeSource) {
		n := uint64(400 * (1 - s.throttle)) // pages per step, slowed by the throttle
		for i := range n {
			s.write(base+(uint64(s.steps)*400+i)%8192*PageSize, byte(s.steps))
		}
	}
	a, b := net.Pipe()
	s, r := migrateWith(t, context.Background(), api.MigrateRequest{DowntimeLimit: 20 * time.Millisecond, MaxTime: 20 * time.Second}, a, b, src, dst, nil)
	if s.err != nil || r.err != nil {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	if s.rep.Throttle < 0.2 || src.throttle != s.rep.Throttle {
		t.Fatalf("throttle %v (source told %v), rounds %+v", s.rep.Throttle, src.throttle, s.rep.Rounds)
	}
	if err := src.mem.equal(dst.mem); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d rounds, throttle %v, switch %q", len(s.rep.Rounds), s.rep.Throttle, s.rep.Switch)
}

// A cancel in a later round: the guest was never stopped, runs on, and
// tracking is off.
func TestPrecopyCancelledInRound(t *testing.T) {
	fp := testFingerprint()
	src, dst, _ := newMachines(fp)
	base := fp.RAM[0].Base
	src.guest = func(s *fakeSource) {
		for i := range uint64(50) {
			s.write(base+(uint64(s.steps)*50+i)%4096*PageSize, byte(s.steps))
		}
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	progress := func(p api.Progress) {
		if p.Round == 2 {
			cancel(errOperator)
		}
	}
	a, b := net.Pipe()
	s, r := migrateWith(t, ctx, api.MigrateRequest{DowntimeLimit: time.Nanosecond, MaxTime: 20 * time.Second, NoAutoConverge: true}, a, b, src, dst, progress)
	failed(t, s, r, src, dst, false)
	if !strings.Contains(s.err.Error(), "cancelled by the operator") {
		t.Fatalf("send: %v", s.err)
	}
}

var errOperator = errorString("cancelled by the operator")

type errorString string

func (e errorString) Error() string { return string(e) }
