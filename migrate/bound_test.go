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

// A migration the operator announced with a max time is given up by the
// destination once that time has passed without its Ack, however slowly
// and steadily the source sends (each record well within the step
// timeout): what came is discarded and the source's guest runs on.
func TestAnnouncedMaxTime(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	b.l.Strict = true
	id := NewID()
	const lasts = 300 * time.Millisecond
	if err := b.l.ExpectFor(id, "a", time.Now().Add(time.Minute), lasts); err != nil {
		t.Fatal(err)
	}
	sconn, dconn := net.Pipe()
	start := time.Now()
	// 2 MiB at 256 KiB/s: about 8 s, far past the bound, each record in
	// well under the step timeout.
	step := WithTimeout(5 * time.Second)
	s, r := sendReceive(t, context.Background(), api.MigrateRequest{ID: id.String(), Bandwidth: 256 << 10}, sconn, dconn, a.src, b.dst, nil,
		append(a.opts(), step), append(b.opts(), step))
	took := time.Since(start)
	if r.err == nil || !strings.Contains(r.err.Error(), "did not reach its Ack within 300ms") {
		t.Fatalf("receive: %v, want the announced bound", r.err)
	}
	if s.err == nil && s.rep.OK {
		t.Fatalf("send: %+v", s.rep)
	}
	if took > 5*time.Second {
		t.Errorf("the destination gave up after %v, bound %v", took, lasts)
	}
	if _, _, discards := b.dst.counts(); discards != 1 {
		t.Errorf("%d discards on the destination, want 1", discards)
	}
	settled(t, a, b, id.String(), Aborted)
}

// The bound is the announcement's: a migration that reaches its Ack in
// time is not cut, and one without an announced bound has none.
func TestAnnouncedMaxTimeMet(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	b.l.Strict = true
	id := NewID()
	if err := b.l.ExpectFor(id, "a", time.Now().Add(time.Minute), 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if err := b.l.ExpectFor(NewID(), "a", time.Now().Add(time.Minute), -time.Second); err == nil {
		t.Error("a negative bound was taken")
	}
	sconn, dconn := net.Pipe()
	s, r := sendReceive(t, context.Background(), api.MigrateRequest{ID: id.String()}, sconn, dconn, a.src, b.dst, nil, a.opts(), b.opts())
	if s.err != nil || r.err != nil || !s.rep.Confirmed {
		t.Fatalf("send %v, receive %v", s.err, r.err)
	}
	settled(t, a, b, id.String(), Committed)
}

// A downtime past the limit is reported with the part that overran: the
// last pages against what the switch expected of them, the rest against
// the fixed estimate; nothing within the limit.
func TestOverrun(t *testing.T) {
	const ms = time.Millisecond
	parts := api.Downtime{Stop: 2 * ms, Pages: 19 * ms, State: 3 * ms, Ack: 15 * ms, Restore: 10 * ms, Commit: ms}
	rep := api.Report{Downtime: 40 * ms, Parts: parts}
	if got := overrun(api.Report{Downtime: 30 * ms, Parts: parts}, 30*ms, 28*ms, 12*ms); got != "" {
		t.Fatalf("within the limit: %q", got)
	}
	got := overrun(rep, 30*ms, 28*ms, 12*ms)
	for _, want := range []string{"downtime 40ms, 10ms over the 30ms limit (expected 28ms)", "the last pages took 19ms, 3ms more than expected", "stop, state, ack and commit took 21ms, 9ms more than the 12ms expected (stop 2ms, state 3ms, ack 15ms with the destination's restore 10ms, commit 1ms)"} {
		if !strings.Contains(got, want) {
			t.Errorf("overrun %q lacks %q", got, want)
		}
	}
	// Pages as expected: only the rest overran.
	if got := overrun(api.Report{Downtime: 40 * ms, Parts: api.Downtime{Pages: 10 * ms}}, 30*ms, 28*ms, 12*ms); strings.Contains(got, "last pages") || !strings.Contains(got, "30ms, 18ms more than the 12ms expected") {
		t.Errorf("overrun %q: want the rest only", got)
	}
}
