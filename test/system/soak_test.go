// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/echostream"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// soakStreamRate is the bytes a second the soak's client sends through
// the guest's echo service.
const soakStreamRate = 256 << 10

// TestSoak moves a guest that keeps rewriting and verifying its memory
// a -> b -> a -> ... FERRY_SOAK times (4 by default; `make soak` runs 50
// and writes docs/bench/soak.md), while a client on the data segment keeps
// a TCP stream open through the guest's echo service: every report
// committed and confirmed, every memory verification on the new board
// passing, the stream flowing after every move and never broken (every
// byte back once and in order), no heartbeat lost or duplicated across all
// the moves, and the downtime of each recorded (percentiles with
// FERRY_SOAK_OUT).
func TestSoak(t *testing.T) {
	n := 4
	if s := os.Getenv("FERRY_SOAK"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil || n < 1 {
			t.Fatalf("FERRY_SOAK=%q: want a count", s)
		}
	}
	l := newLink(t)
	data, nic := dataSegment(t)
	a := l.board("a", "10.77.0.11", macA, dirtyArgs+" guest.ip="+guestIP+"/24", nic)
	b := l.board("b", "10.77.0.12", macB, "", nic)
	expect(t, a, `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, 0, bootTimeout)
	expect(t, a, `^FERRY-ECHO up port=7`, 0, bootTimeout)
	stream := echostream.Start(dialEcho(t, data, time.Minute), soakStreamRate)
	flowing(t, stream, 64<<10, 30*time.Second)
	boards := []*qemu.Process{a, b}
	addrs := []string{"10.77.0.11", "10.77.0.12"}
	var downs, totals []time.Duration
	for i := range n {
		from, to := i%2, (i+1)%2
		mark := len(boards[to].Lines())
		echoed := stream.Got()
		rep, err := l.migrateJSON(t, addrs[from], addrs[to])
		if err != nil || !rep.OK || !rep.Confirmed {
			t.Fatalf("migration %d (%s to %s): %v, report ok %v confirmed %v: %s", i+1, addrs[from], addrs[to], err, rep.OK, rep.Confirmed, rep.Error+rep.InDoubt)
		}
		downs, totals = append(downs, rep.Downtime), append(totals, rep.Total)
		// Its memory verifies where it is now, twice.
		_, j := expect(t, boards[to], `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, mark, time.Minute)
		expect(t, boards[to], `^FERRY-DIRTY-CHECK id=\w+ n=\d+ OK`, j+1, time.Minute)
		flowing(t, stream, echoed+64<<10, time.Minute)
		t.Logf("migration %d: %s to %s, total %v, downtime %v, %d rounds", i+1, addrs[from], addrs[to], rep.Total, rep.Downtime, len(rep.Rounds))
	}
	for _, p := range boards {
		for _, ln := range p.Lines() {
			if strings.Contains(ln.Text, "BAD") || strings.Contains(ln.Text, "FATAL") {
				t.Fatalf("console: %q", ln.Text)
			}
		}
	}
	lost, dup := heartbeats(boards...)
	if lost != 0 || dup != 0 {
		t.Fatalf("heartbeats across %d migrations: %d lost, %d duplicated", n, lost, dup)
	}
	if err := stream.Finish(time.Minute); err != nil {
		t.Fatalf("the client's stream at the end: %v", err)
	}
	stall, _ := stream.Stall()
	p50, p90, p99, worst := percentiles(downs)
	t.Logf("%d migrations, all committed and confirmed; downtime p50 %v, p90 %v, p99 %v, max %v; heartbeats: none lost or duplicated; the client's stream: %d bytes echoed in order, the longest stall %v",
		n, p50, p90, p99, worst, stream.Got(), stall.Round(time.Millisecond))
	if out := os.Getenv("FERRY_SOAK_OUT"); out != "" {
		writeSoak(t, out, n, downs, totals, stream.Got(), stall)
	}
}

var hbLine = regexp.MustCompile(`^FERRY-HB (\d+) t=[\d.]+$`)

// heartbeats counts, over the heartbeats of all boards in time order, the
// numbers skipped and the numbers seen twice. Ferry's own log shares the
// console with the guest and can land inside one of its lines
// ("FERR" "ferry: ...\n" "Y-HB 1761 t=37.96", or "FERRY-HB 1297
// t=23.89" "ferry: ...\n" and an empty line), and a line the guest began
// before the switchover ends on the other board's console ("FERRY-HB 116"
// on a, "65 t=219.27" on b): a heartbeat found only in two such pieces is
// counted as printed once.
func heartbeats(boards ...*qemu.Process) (lost, dup int) {
	type hb struct {
		at time.Time
		n  int
	}
	var all []hb
	var heads, tails []string // pieces of lines: before a "ferry: ", and lines that are not whole
	for _, p := range boards {
		for _, l := range p.Lines() {
			if m := hbLine.FindStringSubmatch(l.Text); m != nil {
				n, _ := strconv.Atoi(m[1])
				all = append(all, hb{l.At, n})
				continue
			}
			if i := strings.Index(l.Text, "ferry: "); i > 0 {
				heads = append(heads, l.Text[:i])
			} else if i < 0 {
				tails = append(tails, l.Text)
			}
		}
	}
	tails = append(tails, "") // a whole heartbeat with Ferry's line after it, its newline alone
	split := func(n int) bool {
		for _, h := range heads {
			for _, t := range tails {
				if m := hbLine.FindStringSubmatch(h + t); m != nil && m[1] == strconv.Itoa(n) {
					return true
				}
			}
		}
		return false
	}
	slices.SortStableFunc(all, func(x, y hb) int { return x.at.Compare(y.at) })
	seen := map[int]bool{}
	for i, h := range all {
		if seen[h.n] {
			dup++
		}
		seen[h.n] = true
		if i == 0 {
			continue
		}
		for m := all[i-1].n + 1; m < h.n; m++ {
			if !split(m) {
				lost++
			}
		}
	}
	return lost, dup
}

func percentiles(ds []time.Duration) (p50, p90, p99, worst time.Duration) {
	s := slices.Clone(ds)
	slices.Sort(s)
	at := func(p float64) time.Duration { return s[min(len(s)-1, int(p*float64(len(s))))] }
	return at(0.5), at(0.9), at(0.99), s[len(s)-1]
}

// writeSoak writes the figures as JSON (out) and a table (out with .md).
func writeSoak(t *testing.T, out string, n int, downs, totals []time.Duration, echoed int64, stall time.Duration) {
	p50, p90, p99, worst := percentiles(downs)
	t50, _, _, tworst := percentiles(totals)
	res := map[string]any{
		"date": time.Now().UTC().Format(time.RFC3339), "migrations": n, "all_confirmed": true,
		"heartbeats_lost": 0, "heartbeats_duplicated": 0,
		"downtime_ns": downs, "total_ns": totals,
		"downtime_p50_ns": p50, "downtime_p90_ns": p90, "downtime_p99_ns": p99, "downtime_max_ns": worst,
		"stream_bytes_echoed": echoed, "stream_longest_stall_ns": stall,
	}
	data, _ := json.MarshalIndent(res, "", "  ")
	if err := os.WriteFile(out, append(data, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	md := fmt.Sprintf(`# Soak

%d consecutive live migrations a -> b -> a -> ... of one guest (896 MiB,
rewriting 8 MiB at 8 MiB/s and verifying it, a 16 MiB pattern, a
heartbeat, a TCP echo service on its own NIC), on one machine under TCG
(`+"`make soak`"+`, %s). Every report was committed and confirmed, every
memory verification on the new board passed, and across all of them no
heartbeat was lost or printed twice. A client on the data segment kept
one TCP stream open through the guest's echo service at %d KiB/s: it
never broke, %.1f MiB came back once and in order, and the longest the
client waited for its echo was %v.

| | p50 | p90 | p99 | max |
|---|---|---|---|---|
| downtime | %v | %v | %v | %v |
| total | %v | | | %v |

Figures per migration: soak.json.
`, n, res["date"], soakStreamRate>>10, float64(echoed)/(1<<20), stall.Round(time.Millisecond), p50.Round(time.Millisecond), p90.Round(time.Millisecond), p99.Round(time.Millisecond), worst.Round(time.Millisecond),
		t50.Round(100*time.Millisecond), tworst.Round(100*time.Millisecond))
	if err := os.WriteFile(strings.TrimSuffix(out, ".json")+".md", []byte(md), 0o644); err != nil {
		t.Fatal(err)
	}
}
