// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// dirtyArgs: the guest keeps rewriting 8 MiB at 8 MiB/s and verifying it,
// with a 10 ms heartbeat, while it moves.
const dirtyArgs = "quiet guest.mode=migrate guest.pattern_mb=16 guest.hb=1 guest.dirty_mb=8 guest.dirty_rate=8"

var untracked = regexp.MustCompile(`ferry: dirty tracking off: guest RAM back on 2 MiB blocks \((\d+) of (\d+) merged\)`)

// migrateJSON runs ferryctl migrate -json and decodes its report.
func (l *link) migrateJSON(t *testing.T, args ...string) (api.Report, error) {
	t.Helper()
	out, err := l.ferryctl("", append([]string{"migrate", "-json"}, args...)...)
	var rep api.Report
	if i := strings.Index(out, "{"); i >= 0 {
		if jerr := json.NewDecoder(strings.NewReader(out[i:])).Decode(&rep); jerr != nil && err == nil {
			err = fmt.Errorf("decoding the report: %w", jerr)
		}
	}
	return rep, err
}

// A guest rewriting memory while it moves, live: its memory arrives intact
// (its own verification and the pattern check keep passing on b), its
// counter carries on, the migration took several rounds, the guest was
// stopped for a small part of it, and its heartbeat never stopped for long.
func TestLiveMigrationDirtyingGuest(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", dirtyArgs)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	expect(t, a, `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, 0, bootTimeout)

	rep, err := l.migrateJSON(t, "10.77.0.11", "10.77.0.12")
	if err != nil || !rep.OK {
		t.Fatalf("migration: %v, report %+v", err, rep)
	}
	_, commit := expect(t, a, `ferry: migration \w+ to 10\.77\.0\.12:7001 \(b\) committed and confirmed`, 0, time.Minute)
	_, recv := expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	if len(rep.Rounds) < 3 || !rep.Rounds[len(rep.Rounds)-1].Stopped {
		t.Fatalf("rounds: %+v; want round 0, at least one round of dirty pages, and the stopped round", rep.Rounds)
	}
	if rep.Downtime <= 0 || rep.Downtime > rep.Total/5 {
		t.Fatalf("downtime %v of a %v migration: not live", rep.Downtime, rep.Total)
	}
	if rep.Faults == 0 {
		t.Fatal("a guest rewriting memory took no dirty fault")
	}
	// The source's stage 2 is back on blocks (it may take a guest again).
	m, _ := expect(t, a, untracked.String(), 0, time.Minute)
	if g := untracked.FindStringSubmatch(m.Text); g[1] != g[2] {
		t.Fatalf("stage 2 not back on blocks: %q", m.Text)
	}

	before := counters(a.Lines()[:commit])
	last := before[len(before)-1]
	l1, i := expect(t, b, counterT.String(), recv, 30*time.Second)
	if first := counters([]qemu.Line{l1})[0]; first.id != last.id || first.n != last.n+1 {
		t.Fatalf("counter did not continue: last on a %+v, first on b %+v", last, first)
	}
	// Two verification passes on b, after the move.
	_, j := expect(t, b, fmt.Sprintf(`^FERRY-DIRTY-CHECK id=%s n=\d+ OK`, last.id), i, time.Minute)
	expect(t, b, fmt.Sprintf(`^FERRY-DIRTY-CHECK id=%s n=\d+ OK`, last.id), j+1, time.Minute)
	expect(t, b, fmt.Sprintf(`^FERRY-PATTERN-CHECK id=%s n=\d+ OK`, last.id), i, time.Minute)
	for _, p := range []*qemu.Process{a, b} {
		for _, ln := range p.Lines() {
			if strings.Contains(ln.Text, "BAD") || strings.Contains(ln.Text, "FATAL") {
				t.Fatalf("console: %q", ln.Text)
			}
		}
	}
	gap := heartbeatGap(a, b)
	t.Logf("%d rounds, %d bytes, total %v, downtime %v (stop %v, pages %v, state %v, ack %v, commit %v), heartbeat gap %v, guest CPU %.0f%%, throttle %.0f%%",
		len(rep.Rounds), rep.Bytes, rep.Total, rep.Downtime, rep.Parts.Stop, rep.Parts.Pages, rep.Parts.State, rep.Parts.Ack, rep.Parts.Commit, gap, 100*rep.GuestCPU, 100*rep.Throttle)
	// Generous: CI machines are noisy; the benchmark measures it properly.
	if gap > 3*time.Second {
		t.Fatalf("the guest's heartbeat stopped for %v across the move", gap)
	}
}

// ferryctl cancel during pre-copy: the migration ends before its commit,
// the guest carries on at the source at full speed (stage 2 back on
// blocks), the destination keeps nothing, and a later migration of the
// same guest succeeds.
func TestMigrateCancel(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", dirtyArgs)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	expect(t, a, `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, 0, bootTimeout)

	type result struct {
		rep api.Report
		err error
	}
	done := make(chan result, 1)
	go func() {
		// A bandwidth cap keeps round 0 long enough to cancel it for sure.
		rep, err := l.migrateJSON(t, "-bandwidth", "4MiB", "10.77.0.11", "10.77.0.12")
		done <- result{rep, err}
	}()
	_, i := expect(t, a, `ferry: migration \w+ to 10\.77\.0\.12:7001 requested`, 0, time.Minute)
	time.Sleep(2 * time.Second)
	if out, err := l.ferryctl("", "cancel", "10.77.0.11"); err != nil {
		t.Fatalf("ferryctl cancel: %v\n%s", err, out)
	}
	var r result
	select {
	case r = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("ferryctl migrate did not return after the cancel")
	}
	if r.rep.OK || !strings.Contains(r.rep.Error, "cancelled by the operator") {
		t.Fatalf("cancelled migration: err %v, report %+v", r.err, r.rep)
	}
	if r.rep.Downtime != 0 {
		t.Fatalf("the guest was stopped for %v by a cancelled pre-copy", r.rep.Downtime)
	}
	m, j := expect(t, a, untracked.String(), i, time.Minute)
	if g := untracked.FindStringSubmatch(m.Text); g == nil || g[1] != g[2] {
		t.Fatalf("stage 2 not back on blocks after the cancel: %q", m.Text)
	}
	expect(t, b, `ferry: incoming migration \w+ from a failed, nothing was started here`, 0, time.Minute)
	l1, k := expect(t, a, counterT.String(), j, 30*time.Second)
	l2, _ := expect(t, a, counterT.String(), k+1, 30*time.Second)
	if c1, c2 := counters([]qemu.Line{l1})[0], counters([]qemu.Line{l2})[0]; c2.n != c1.n+1 {
		t.Fatalf("the guest did not carry on at the source: %+v then %+v", c1, c2)
	}
	expect(t, a, `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, j, time.Minute)
	if s, _ := l.ferryctl("", "status", "10.77.0.12"); !regexp.MustCompile(`guest +none`).MatchString(s) {
		t.Fatalf("destination status after the cancel: %s", s)
	}

	rep, err := l.migrateJSON(t, "10.77.0.11", "10.77.0.12")
	if err != nil || !rep.OK {
		t.Fatalf("migration after the cancel: %v, report %+v", err, rep)
	}
	_, recv := expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	expect(t, b, `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, recv, time.Minute)
}
