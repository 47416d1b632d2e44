// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
)

func TestParseBandwidth(t *testing.T) {
	for in, want := range map[string]uint64{
		"0":        0,
		"10485760": 10 << 20,
		"512B":     512,
		"64KiB":    64 << 10,
		"50MiB":    50 << 20,
		"50 MiB":   50 << 20,
		"50MiB/s":  50 << 20,
		"2GiB":     2 << 30,
		"1.5GiB":   3 << 29,
		"0.5MiB":   1 << 19,
		" 100KiB ": 100 << 10,
	} {
		if got, err := parseBandwidth(in); err != nil || got != want {
			t.Errorf("parseBandwidth(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for in, want := range map[string]string{
		"":                     "want bytes per second",
		"MiB":                  "want bytes per second",
		"fast":                 "want bytes per second",
		"50MB":                 "want a binary unit",
		"50mib":                "want a binary unit",
		"1GB/s":                "want a binary unit",
		"-1":                   "want bytes per second",
		"-1MiB":                "want bytes per second",
		"1e9":                  "want bytes per second",
		"0x100":                "want bytes per second",
		"NaN":                  "want bytes per second",
		"Inf":                  "too large",
		"18446744073709551616": "too large",
		"17179869184GiB":       "too large",
	} {
		if got, err := parseBandwidth(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseBandwidth(%q) = %d, %v; want an error with %q", in, got, err, want)
		}
	}
	for n, want := range map[uint64]string{0: "0", 512: "512B", 50 << 20: "50MiB", 1536 << 20: "1536MiB", 2 << 30: "2GiB", 1000: "1000B", 1001: "1001B"} {
		b := bandwidthFlag(n)
		if got := b.String(); got != want {
			t.Errorf("bandwidthFlag(%d) = %q, want %q", n, got, want)
		}
		var back bandwidthFlag
		if err := back.Set(want); err != nil || back != b {
			t.Errorf("Set(%q) = %d, %v; want %d", want, back, err, n)
		}
	}
}

// fields returns the whitespace-separated fields of the line of out that
// starts with prefix (after its indentation).
func fields(t *testing.T, out, prefix string) []string {
	t.Helper()
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Fields(l)
		}
	}
	t.Fatalf("no line %q in:\n%s", prefix, out)
	return nil
}

func TestPrintReport(t *testing.T) {
	var b bytes.Buffer
	rep := okReport
	rep.Settings.Bandwidth, rep.Settings.NoAutoConverge = 50<<20, true
	printReport(&b, rep)
	out := b.String()
	for prefix, want := range map[string]string{
		"settings":     "settings downtime limit 30ms, bandwidth 50MiB/s, max time 5m0s, auto-converge off",
		"downtime":     "downtime 900ms",
		"  stop":       "stop 3ms (asking the guest to stop until it stopped)",
		"  pages":      "pages 2ms (the last dirty pages)",
		"  state":      "state 5ms (machine state and End)",
		"  ack":        "ack 130ms (End sent to Ack received)",
		"    restore":  "restore 120ms (the destination's check and restore, as it measured them: overlaps state and ack)",
		"  commit":     "commit 760ms (Ack to Commit, and the destination's resume)",
		"switch":       "switch fits: the rest fit the downtime limit",
		"throttle":     "throttle 20% (auto-converge's last cut of the guest's CPU time)",
		"tracking":     "tracking 15ms (splitting and write-protecting RAM)",
		"untrack":      "untrack 4ms (back on 2 MiB blocks)",
		"dirty faults": "dirty faults 1234 (2.5µs each in Ferry's handler)",
		"guest cpu":    "guest cpu 80% (the guest's share of the CPU during pre-copy)",
	} {
		if got := strings.Join(fields(t, out, prefix), " "); got != want {
			t.Errorf("line %q\nwant %q", got, want)
		}
	}
	// The downtime's parts are indented under it, restore under ack.
	if !strings.Contains(out, "\n  stop ") || !strings.Contains(out, "\n    restore ") {
		t.Errorf("parts not indented:\n%s", out)
	}
	// The table: a header and a row per round, columns aligned.
	head := fields(t, out, "  n ")
	if strings.Join(head, " ") != "n pages zero bytes duration dirty rate cpu share throttle stopped" {
		t.Errorf("header %q", head)
	}
	for _, want := range [][]string{
		{"0", "262144", "230000", "126.0", "MiB", "1.2s", "8.0", "MiB/s", "15%", "0%", "no"},
		{"1", "900", "0", "3.5", "MiB", "40ms", "2.0", "MiB/s", "12%", "20%", "no"},
		{"2", "30", "0", "120.0", "KiB", "2ms", "0", "B/s", "0%", "0%", "yes"},
	} {
		if got := fields(t, out, "  "+want[0]+" "); strings.Join(got, " ") != strings.Join(want, " ") {
			t.Errorf("round %s: %q, want %q", want[0], got, want)
		}
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	table := lines[len(lines)-4:]
	for _, l := range table[1:] {
		if len(l) != len(table[0]) {
			t.Errorf("table not aligned:\n%s", strings.Join(table, "\n"))
			break
		}
	}

	// A failed migration has no parts and no rounds to show.
	b.Reset()
	printReport(&b, api.Report{Error: "refused", Switch: "stalled"})
	out = b.String()
	if strings.Contains(out, "stop ") || !strings.Contains(out, "rounds        none") || !strings.Contains(out, "switch        stalled: pre-copy stopped converging") {
		t.Errorf("report of a failure:\n%s", out)
	}
}

func TestProgressViewPlain(t *testing.T) {
	var b bytes.Buffer
	v := newProgressView(&b)
	if v.tty {
		t.Fatal("a buffer is not a terminal")
	}
	for _, p := range rounds {
		v.update(p)
		v.update(p) // the same again: not repeated
	}
	v.pollError(errors.New("timeout"))
	v.pollError(errors.New("timeout"))
	v.update(api.Progress{Phase: "cancelled", Round: 2, Elapsed: 1500 * time.Millisecond, Error: "cancelled by the operator"})
	v.finish()
	want := []string{
		"handshake after 0s: 0 pages sent, of 1000 in RAM; 0 B",
		"precopy round 0: 1000 pages left, dirty 0 B/s, bandwidth 0 B/s, cpu 0%, throttle 0%, downtime ~0s (0 pages sent in all, of 1000 in RAM; 0 B)",
		"precopy round 1: 200 pages left, dirty 8.0 MiB/s, bandwidth 100.0 MiB/s, cpu 12%, throttle 20%, downtime ~25ms (1000 pages sent in all, of 1000 in RAM; 3.9 MiB)",
		"stopped round 2: 20 pages left, dirty 0 B/s, bandwidth 0 B/s, cpu 0%, throttle 0%, downtime ~0s (1200 pages sent in all, of 1000 in RAM; 4.7 MiB)",
		"committing after 0s: 1220 pages sent, of 1000 in RAM; 4.8 MiB",
		"ferryctl: polling progress: timeout",
		"cancelled after 1.5s: cancelled by the operator",
	}
	if got := strings.Split(strings.TrimSpace(b.String()), "\n"); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("lines:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// lastFrame is what a terminal shows after out: its last redraw.
func lastFrame(out string) string {
	f := out[strings.LastIndex(out, "\r")+1:]
	return strings.TrimSuffix(f, " \033[0K")
}

// On a terminal the view is progressbar's live bar of the round's pages.
func TestProgressViewTerminal(t *testing.T) {
	var b bytes.Buffer
	v := &progressView{w: &b, tty: true, cols: 300, round: -1}
	for _, tc := range []struct {
		p    api.Progress
		want string
	}{
		{rounds[2], "  50% [===========>            ]  precopy round 0: 500 pages left, dirty 0 B/s, bandwidth 0 B/s, cpu 0%, throttle 0%, downtime ~0s"},
		// Round 1 first seen: its bar starts empty; 100 sent, 100 left is half.
		{rounds[3], "   0% [                        ]  precopy round 1: 200 pages left, dirty 8.0 MiB/s, bandwidth 100.0 MiB/s, cpu 12%, throttle 20%, downtime ~25ms"},
		{rounds[4], "  50% [===========>            ]  precopy round 1: 100 pages left, dirty 0 B/s, bandwidth 0 B/s, cpu 0%, throttle 0%, downtime ~0s"},
	} {
		b.Reset()
		v.update(tc.p)
		if got := lastFrame(b.String()); got != tc.want {
			t.Errorf("frame %q\nwant  %q", got, tc.want)
		}
	}
	// A new round clears the old bar's line.
	b.Reset()
	v.update(rounds[5])
	if !strings.HasPrefix(b.String(), "\033[2K\r") {
		t.Errorf("the old bar is not cleared: %q", b.String())
	}
	// A narrow terminal gets the text cut to the line.
	v.cols = 80
	b.Reset()
	v.update(api.Progress{Phase: "stopped", Round: 2, PagesSent: 1210, PagesLeft: 10})
	if f := lastFrame(b.String()); len(f) >= 80 || !strings.HasPrefix(f, "  50% [") {
		t.Errorf("frame of %d columns on an 80-column terminal: %q", len(f), f)
	}
	// A poll error goes on a line of its own.
	b.Reset()
	v.pollError(errors.New("timeout"))
	if b.String() != "\033[2K\rferryctl: polling progress: timeout\n" {
		t.Errorf("poll error: %q", b.String())
	}
	// A bar that fills shows its last text.
	b.Reset()
	v.update(rounds[6])
	if f, want := lastFrame(b.String()), " 100% [========================]  committing round 2: 0 pages left, dirty"; !strings.HasPrefix(f, want) {
		t.Errorf("full bar %q\nwant     %q...", f, want)
	}
	b.Reset()
	v.finish()
	if b.String() != "\n" {
		t.Errorf("finish: %q", b.String())
	}
}

// status's guest line says what the guest did with its power on the
// board: restarts it asked for, a power-off.
func TestGuestState(t *testing.T) {
	for _, c := range []struct {
		st   api.Status
		want string
	}{
		{api.Status{Guest: api.GuestRunning}, "running"},
		{api.Status{Guest: api.GuestRunning, GuestResets: 1, GuestPower: "SYSTEM_RESET", GuestPowerAgo: 14200 * time.Millisecond},
			"running (reset 1 time by itself, last SYSTEM_RESET 14s ago)"},
		{api.Status{Guest: api.GuestRunning, GuestResets: 3, GuestPower: "SYSTEM_RESET2 (warm)", GuestPowerAgo: 2 * time.Minute},
			"running (reset 3 times by itself, last SYSTEM_RESET2 (warm) 2m0s ago)"},
		{api.Status{Guest: api.GuestOff, GuestPower: "SYSTEM_OFF", GuestPowerAgo: 3 * time.Second}, "off (powered off by itself: SYSTEM_OFF 3s ago)"},
		{api.Status{Guest: api.GuestOff, GuestResets: 2, GuestPower: "SYSTEM_OFF", GuestPowerAgo: 3 * time.Second},
			"off (powered off by itself: SYSTEM_OFF 3s ago; reset 2 times by itself)"},
	} {
		if got := guestState(c.st); got != c.want {
			t.Errorf("%q, want %q", got, c.want)
		}
	}
}
