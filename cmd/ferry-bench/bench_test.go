// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/qemu"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

var t0 = time.Date(2026, 12, 1, 8, 0, 0, 0, time.UTC)

func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

func TestParseQMPReply(t *testing.T) {
	ret, ev, err := parseQMPReply([]byte(`{"return": {}}`))
	if err != nil || ev || string(ret) != "{}" {
		t.Fatalf("return: %q %v %v", ret, ev, err)
	}
	if _, ev, _ := parseQMPReply([]byte(`{"timestamp": {"seconds": 1, "microseconds": 2}, "event": "MIGRATION", "data": {"status": "active"}}`)); !ev {
		t.Fatal("event not recognised")
	}
	_, _, err = parseQMPReply([]byte(`{"error": {"class": "GenericError", "desc": "There's a migration process in progress"}}`))
	if err == nil || !strings.Contains(err.Error(), "GenericError: There's a migration") {
		t.Fatalf("error reply: %v", err)
	}
	if _, _, err := parseQMPReply([]byte(`{"QMP": {}}`)); err == nil {
		t.Fatal("a greeting is no reply")
	}
	if _, _, err := parseQMPReply([]byte(`{"return"`)); err == nil {
		t.Fatal("bad JSON accepted")
	}
}

// A query-migrate answer of QEMU 7.2 after a completed migration.
const completed = `{"blocked": false, "expected-downtime": 27, "status": "completed", "setup-time": 3,
 "downtime": 41, "total-time": 1234, "cpu-throttle-percentage": 30,
 "ram": {"total": 537460736, "postcopy-requests": 0, "dirty-sync-count": 4, "multifd-bytes": 0,
  "pages-per-second": 36000, "downtime-bytes": 1300000, "page-size": 4096, "remaining": 0,
  "postcopy-bytes": 0, "mbps": 1074.2, "transferred": 160123456, "dirty-sync-missed-zero-copy": 0,
  "precopy-bytes": 158000000, "duplicate": 95000, "dirty-pages-rate": 2048, "skipped": 0,
  "normal-bytes": 155000000, "normal": 37842}}`

func TestParseMigrateInfo(t *testing.T) {
	mi, err := parseMigrateInfo(json.RawMessage(completed))
	if err != nil {
		t.Fatal(err)
	}
	if !mi.finished() || mi.Status != "completed" || mi.TotalTime != 1234 || mi.Downtime != 41 || mi.SetupTime != 3 ||
		mi.CPUThrottle != 30 || mi.RAM.Transferred != 160123456 || mi.RAM.DirtySyncCount != 4 ||
		mi.RAM.Normal != 37842 || mi.RAM.NormalBytes != 155000000 || mi.RAM.Duplicate != 95000 {
		t.Fatalf("parsed %+v", mi)
	}
	act, err := parseMigrateInfo(json.RawMessage(`{"status": "active", "total-time": 10, "ram": {"transferred": 5}}`))
	if err != nil || act.finished() || act.RAM.Transferred != 5 {
		t.Fatalf("active: %+v %v", act, err)
	}
	if _, err := parseMigrateInfo(json.RawMessage(`{}`)); err == nil {
		t.Fatal("no status accepted")
	}
}

func lines(ms []int, texts []string) []qemu.Line {
	var out []qemu.Line
	for i := range ms {
		out = append(out, qemu.Line{Text: texts[i], At: at(ms[i])})
	}
	return out
}

func TestHeartbeatGap(t *testing.T) {
	// Source beats every 20 ms until 1000, destination from 1350; a
	// counter line between is ignored; an old gap before the window too.
	src := lines([]int{0, 500, 960, 980, 1000, 1100}, []string{"FERRY-HB 1 t=1.00", "FERRY-HB 2 t=1.50", "FERRY-HB 3 t=1.96",
		"FERRY-HB 4 t=1.98", "FERRY-HB 5 t=2.00", "FERRY-COUNTER id=1 n=2 t=2.1 wall=0"})
	dst := lines([]int{1350, 1370, 1390}, []string{"FERRY-HB 6 t=2.02", "FERRY-HB 7", "FERRY-HB 8 t=2.06"})
	g := heartbeatGap(src, dst, at(970), at(2000))
	if !near(g.MaxS, 0.35) || !near(g.SwitchS, 0.35) || !near(g.GuestClockS, 0.02) || g.Beats != 6 {
		t.Fatalf("gap %+v", g)
	}
	// The last beat before the window counts as the start of a gap.
	g = heartbeatGap(src, dst, at(700), at(2000))
	if !near(g.MaxS, 0.46) {
		t.Fatalf("gap from a beat before the window: %+v", g)
	}
	// A guest that never arrives: no switch gap.
	g = heartbeatGap(src, nil, at(0), at(2000))
	if g.SwitchS != 0 || g.GuestClockS != -1 || !near(g.MaxS, 0.5) {
		t.Fatalf("no destination: %+v", g)
	}
}

func TestDirtyProgressAndBeatRate(t *testing.T) {
	src := lines([]int{1000, 3000, 5000, 7000, 9000, 10000}, []string{
		"FERRY-DIRTY id=a rate=8.0 n=1 mib=8 t=1", "FERRY-DIRTY id=a rate=8.0 n=2 mib=24 t=3",
		"FERRY-DIRTY id=a rate=8.0 n=3 mib=40 t=5", "FERRY-DIRTY id=a rate=8.0 n=4 mib=56 t=7",
		"FERRY-DIRTY id=a rate=8.0 n=5 mib=72 t=9", "FERRY-HB 1 t=9.1"})
	dst := lines([]int{12000, 14000}, []string{"FERRY-DIRTY id=a rate=4.0 n=6 mib=80 t=10", "FERRY-DIRTY id=a rate=8.0 n=7 mib=96 t=12"})
	before, during := dirtyProgress(src, dst, at(9500), at(11500))
	// before: lines 3000..9000 (within 8 s of 9500): 48 MiB in 6 s; during:
	// 72 at 9000 to 80 at 12000.
	if !near(before, 8) || !near(during, 8.0/3) {
		t.Fatalf("before %v during %v", before, during)
	}
	if b, d := dirtyProgress(nil, nil, at(0), at(1)); b != 0 || d != 0 {
		t.Fatalf("no lines: %v %v", b, d)
	}
	hb := lines([]int{100, 200, 300, 400, 500}, []string{"FERRY-HB 1", "FERRY-HB 2", "FERRY-HB 3", "FERRY-HB 4", "x"})
	hd := lines([]int{450}, []string{"FERRY-HB 5"})
	b, d := beatRate(hb, hd, at(250), at(500))
	if !near(b, 2/beforeWindow.Seconds()) || !near(d, 3/0.25) {
		t.Fatalf("beat rate %v %v", b, d)
	}
}

func TestBadChecks(t *testing.T) {
	l := lines([]int{1, 2, 3}, []string{"FERRY-DIRTY-CHECK id=a n=3 OK", "FERRY-DIRTY-CHECK id=a n=4 BAD", "FERRY-PATTERN-CHECK id=a n=5 BAD"})
	if bad := badChecks(l); len(bad) != 2 {
		t.Fatalf("bad %q", bad)
	}
	if n := okChecks(l); n != 1 {
		t.Fatalf("ok checks %d", n)
	}
}

func TestParseRatesSystemsCells(t *testing.T) {
	r, err := parseRates("idle, 8,32,max")
	if err != nil || len(r) != 4 || r[0] != 0 || r[3] != maxRate {
		t.Fatalf("%v %v", r, err)
	}
	for _, bad := range []string{"-1", "x", ""} {
		if _, err := parseRates(bad); err == nil {
			t.Fatalf("rate %q accepted", bad)
		}
	}
	if _, err := parseSystems("ferry,kvm"); err == nil {
		t.Fatal("unknown system accepted")
	}
	m := Matrix{Sizes: []int{256, 512}, Rates: []int{0, 8}, DirtyMiB: 32}
	cs := m.Cells()
	if len(cs) != 4 || cs[0] != (Cell{256, 0, 0}) || cs[3] != (Cell{512, 32, 8}) {
		t.Fatalf("cells %v", cs)
	}
	if !strings.Contains(cs[3].GuestArgs(), "guest.dirty_mb=32 guest.dirty_rate=8") || strings.Contains(cs[0].GuestArgs(), "dirty") {
		t.Fatalf("guest args %q / %q", cs[3].GuestArgs(), cs[0].GuestArgs())
	}
	if cs[0].Workload() != "idle" || cs[3].Workload() != "8 MiB/s" || (Cell{512, 32, maxRate}).Workload() != "max" {
		t.Fatal("workload names")
	}
}

func TestFerryReport(t *testing.T) {
	// Stop-and-copy: no rounds, everything in the downtime.
	var r Result
	r.Ferry = &FerryDetail{}
	ferryReport(&r, api.Report{OK: true, Bytes: 100 << 20, DataPages: 25000, Total: 5 * time.Second, Downtime: 4 * time.Second})
	if r.Rounds != 0 || r.TouchedBytes != 25000*4096 || !near(r.StreamMiBs, 25) || !near(r.DowntimeS, 4) {
		t.Fatalf("stop-and-copy %+v", r)
	}
	// Pre-copy: round 0's data pages are the memory touched.
	r = Result{Ferry: &FerryDetail{}}
	ferryReport(&r, api.Report{OK: true, Bytes: 60 << 20, Total: 3 * time.Second, Downtime: 30 * time.Millisecond, Switch: "fits", Throttle: 0.2, GuestCPU: 0.8,
		Rounds: []api.Round{{N: 0, Pages: 1000, ZeroPages: 400, Duration: 2 * time.Second}, {N: 1, Pages: 10, Duration: time.Second, Stopped: true}}})
	if r.Rounds != 2 || r.TouchedBytes != 600*4096 || !near(r.StreamMiBs, 20) || r.Ferry.Switch != "fits" || r.Ferry.GuestCPU != 0.8 {
		t.Fatalf("pre-copy %+v %+v", r, r.Ferry)
	}
}

func TestParseLinkResult(t *testing.T) {
	r, ok := parseLinkResult("nettest: client: RESULT mtu=65535 mib=256 seconds=2.000 throughput: 128.00 MiB/s (1073.7 Mbit/s)")
	if !ok || r.MTU != 65535 || r.MiB != 256 || !near(r.MiBs, 128) {
		t.Fatalf("%+v %v", r, ok)
	}
	if _, ok := parseLinkResult("RESULT mtu=1 mib=1 seconds=0"); ok {
		t.Fatal("zero seconds accepted")
	}
}

func sampleSummary() MigrationSummary {
	m := Matrix{Sizes: []int{512}, Rates: []int{0, 8}, Systems: []string{sysFerry, sysQEMU, sysQEMU30ms}, DirtyMiB: 32, Runs: 1, QEMUTimeout: time.Minute}
	res := []Result{
		{System: sysQEMU, Cell: Cell{512, 0, 0}, OK: true, TotalS: 1.2, DowntimeS: 0.02, GuestGapS: 0.1, Bytes: 150 << 20, TouchedBytes: 140 << 20, Rounds: 3, Progress: 0.9},
		{System: sysQEMU30ms, Cell: Cell{512, 0, 0}, OK: true, TotalS: 1.3, DowntimeS: 0.01, GuestGapS: 0.05, Bytes: 150 << 20, TouchedBytes: 140 << 20, Rounds: 4},
		{System: sysFerry, Cell: Cell{512, 0, 0}, OK: true, TotalS: 5, DowntimeS: 0.03, GuestGapS: 0.06, Bytes: 110 << 20, TouchedBytes: 105 << 20, Rounds: 2,
			StreamMiBs: 20, Ferry: &FerryDetail{Switch: "fits", Rounds: []api.Round{{}, {}}}},
		{System: sysQEMU, Cell: Cell{512, 32, 8}, OK: true, GuestGapS: 0.2, DirtyBefore: 7.5},
		{System: sysFerry, Cell: Cell{512, 32, 8}, Error: "migration failed: did not | converge"},
	}
	for i := range res {
		res[i].settle()
	}
	return MigrationSummary{Date: "2026-12-01T08:00:00Z", QEMU: "QEMU 7.2", CPU: "max", Kernel: "6.1", Command: "go run ./cmd/ferry-bench -quick",
		Matrix: m, Link: LinkResult{MiBs: 100, MiB: 256, MTU: 65535}, Results: res}
}

func TestRowsAndTargets(t *testing.T) {
	s := sampleSummary()
	rs := rows(s.Matrix, s.Results)
	if len(rs) != 5 {
		t.Fatalf("rows %+v", rs)
	}
	ts := targets(rs, s.Link)
	if len(ts) != 4 {
		t.Fatalf("targets %+v", ts)
	}
	if ts[0].Status != "met" || !near(ts[0].Value, 0.6) || !strings.Contains(ts[0].Detail, "QEMU at 30 ms: 50 ms") {
		t.Fatalf("idle target %+v", ts[0])
	}
	if ts[1].Status != "pending" {
		t.Fatalf("8 MiB/s target with Ferry failed: %+v", ts[1])
	}
	if ts[2].Status != "met" || !near(ts[2].Value, 110.0/105) {
		t.Fatalf("bytes target %+v", ts[2])
	}
	if ts[3].Status != "info" || !near(ts[3].Value, 0.2) {
		t.Fatalf("stream target %+v", ts[3])
	}
	rs[0].Rounds = 0 // Ferry's idle row: stop-and-copy
	if ts := targets(rs, s.Link); ts[0].Status != "pending" || !strings.Contains(ts[0].Detail, "stop-and-copy") {
		t.Fatalf("stop-and-copy target %+v", ts[0])
	}
	if ts := targets(nil, LinkResult{Error: "no image"}); ts[0].Status != "pending" || ts[3].Status != "pending" {
		t.Fatalf("nothing measured: %+v", ts)
	}
	if medianF([]float64{3, 1, 2, 4}) != 2.5 || medianF(nil) != 0 {
		t.Fatal("median")
	}
}

func TestRenderMigration(t *testing.T) {
	s := sampleSummary()
	s.Rows = rows(s.Matrix, s.Results)
	s.Targets = targets(s.Rows, s.Link)
	md := renderMigration(s)
	for _, want := range []string{
		"| 512 MiB | idle | 60 / 100 / 50 | 0.60 | 30 / 20 / 10 | 5.00 / 1.20 / 1.30 | 110 / 150 / 150 | 2 / 3 / 4 |",
		"| 512 MiB | 8 MiB/s | failed / 200 / -- | -- |",
		"did not \\| converge",
		"switch: fits",
		"**100.0 MiB/s**",
		"| idle 512 MiB guest: guest-observed gap | Ferry's guest-observed gap <= 0.8x QEMU's (defaults) | 0.60 | met |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// No Ferry figures at all: pending, not failed.
	s.Matrix.Systems = []string{sysFerry, sysQEMU}
	var q []Result
	for _, r := range s.Results {
		if r.System == sysQEMU {
			q = append(q, r)
		}
	}
	s.Results = q
	s.Rows = rows(s.Matrix, s.Results)
	if md := renderMigration(s); !strings.Contains(md, "| 512 MiB | idle | pending / 100 |") {
		t.Errorf("pending Ferry figures:\n%s", md)
	}
}

func TestWriteMigration(t *testing.T) {
	dir := t.TempDir()
	if err := writeMigration(dir, sampleSummary()); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"migration.json", "migration.md", "migration.png"} {
		if st, err := os.Stat(filepath.Join(dir, f)); err != nil || st.Size() == 0 {
			t.Fatalf("%s: %v", f, err)
		}
	}
	var back MigrationSummary
	b, _ := os.ReadFile(filepath.Join(dir, "migration.json"))
	if err := json.Unmarshal(b, &back); err != nil || len(back.Results) != 5 || len(back.Targets) != 4 {
		t.Fatalf("json round trip: %v", err)
	}
	// An empty matrix still draws a frame.
	if err := plotMigration(filepath.Join(dir, "empty.png"), nil); err != nil {
		t.Fatal(err)
	}
}

func TestKeepEarlier(t *testing.T) {
	old := sampleSummary() // Ferry, QEMU and QEMU 30 ms at 512 MiB, idle and 8 MiB/s
	now := MigrationSummary{Date: "later", Command: "again", Matrix: Matrix{Sizes: []int{256, 512}, Rates: []int{0}, Systems: []string{sysFerry}, Runs: 1},
		Results: []Result{{System: sysFerry, Cell: Cell{512, 0, 0}, OK: true, GuestGapS: 0.01}, {System: sysFerry, Cell: Cell{256, 0, 0}, OK: true}}}
	s := keepEarlier(now, old)
	// The old Ferry idle 512 result is replaced; the other four are kept.
	if len(s.Results) != 6 || len(s.Kept) != 1 || !strings.Contains(s.Kept[0], "ferry-bench -quick") {
		t.Fatalf("kept %d results, %q", len(s.Results), s.Kept)
	}
	for _, r := range s.Results {
		if r.System == sysFerry && r.Cell == (Cell{512, 0, 0}) && r.GuestGapS != 0.01 {
			t.Fatal("the old result of a re-measured cell was kept")
		}
	}
	m := s.Matrix
	if len(m.Sizes) != 2 || len(m.Rates) != 2 || len(m.Systems) != 3 || m.Systems[0] != sysFerry || m.Systems[2] != sysQEMU30ms {
		t.Fatalf("matrix %+v", m)
	}
	if s.Link.MiBs != 100 {
		t.Fatal("the raw link figure was not kept")
	}
	if !strings.Contains(renderMigration(s), "kept from the run of 2026-12-01T08:00:00Z") {
		t.Fatal("markdown does not say what was kept")
	}
}

func TestProgressFallsBackToHeartbeats(t *testing.T) {
	r := Result{DirtyBefore: 20, DirtyDuring: 0, HBBefore: 60, HBDuring: 30}
	r.settle()
	if !near(r.Progress, 0.5) || r.ProgressBy != "heartbeat" || !strings.Contains(notes(r), "from heartbeats") {
		t.Fatalf("%+v", r)
	}
	r.DirtyDuring = 10
	r.settle()
	if !near(r.Progress, 0.5) || r.ProgressBy != "dirty" || notes(r) != "" {
		t.Fatalf("%+v %q", r, notes(r))
	}
}

func TestParseStatTicks(t *testing.T) {
	// A name with spaces and a parenthesis, as a QEMU thread could have.
	const stat = "4242 (qemu (x) aarch64) S 1 4242 4242 0 -1 4194560 3316 0 0 0 1234 567 0 0 20 0 4 0 100 0 0"
	if n, err := parseStatTicks(stat); err != nil || n != 1234+567 {
		t.Fatalf("ticks %d, %v; want %d", n, err, 1234+567)
	}
	if _, err := parseStatTicks("4242 (qemu) S 1"); err == nil {
		t.Fatal("a short stat line parsed")
	}
}

func TestExitsBetween(t *testing.T) {
	a := api.Status{Uptime: 10 * time.Second, ExitCauses: map[string]uint64{"timer": 10, "mmio": 500}, ExitNanos: map[string]uint64{"timer": 1000, "mmio": 9000}}
	b := api.Status{Uptime: 20 * time.Second, ExitCauses: map[string]uint64{"timer": 30, "mmio": 500, "mgmt-nic": 5}, ExitNanos: map[string]uint64{"timer": 81000, "mmio": 9000}}
	e := exitsBetween(a, b)
	if e.PerSecond != 2.5 || e.Count != 25 || e.Rates["timer"] != 2 || e.Rates["mgmt-nic"] != 0.5 || len(e.Rates) != 2 {
		t.Fatalf("%+v", e)
	}
	// 80 µs over the 20 timer exits; the NIC's exits were not timed.
	if e.MeanUS["timer"] != 4 || len(e.MeanUS) != 1 {
		t.Fatalf("means %v", e.MeanUS)
	}
	if got, want := e.String(), "mgmt-nic 0.50/s, timer 2.00/s at 4.0µs"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
}
