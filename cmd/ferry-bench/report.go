// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// MigrationSummary is what migration.json holds.
type MigrationSummary struct {
	Date    string     `json:"date"`
	QEMU    string     `json:"qemu"`
	CPU     string     `json:"cpu"`
	Machine string     `json:"machine"`
	Kernel  string     `json:"kernel"`
	Image   string     `json:"ferry_image,omitempty"` // path, size, time and SHA-256 prefix of the Ferry image used
	Command string     `json:"command"`
	Kept    []string   `json:"kept,omitempty"` // earlier runs whose results are kept (-keep)
	Matrix  Matrix     `json:"matrix"`
	Link    LinkResult `json:"raw_link"`
	Results []Result   `json:"results"`
	Rows    []Row      `json:"medians"`
	Targets []Target   `json:"targets"`
}

func readSummary(path string) (MigrationSummary, error) {
	var s MigrationSummary
	b, err := os.ReadFile(path)
	if err != nil {
		return s, err
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("%s: %v", path, err)
	}
	return s, nil
}

// keepEarlier adds to s the results of old that s's matrix does not
// measure, and widens s's matrix to cover them. A raw link figure that s
// lacks is taken from old too.
func keepEarlier(s, old MigrationSummary) MigrationSummary {
	measured := map[string]bool{}
	for _, c := range s.Matrix.Cells() {
		for _, sys := range s.Matrix.Systems {
			measured[fmt.Sprint(sys, c)] = true
		}
	}
	var kept []Result
	for _, r := range old.Results {
		if !measured[fmt.Sprint(r.System, r.Cell)] {
			kept = append(kept, r)
		}
	}
	if len(kept) == 0 {
		return s
	}
	s.Results = append(kept, s.Results...)
	s.Kept = append(append(s.Kept, old.Kept...), fmt.Sprintf("%s: %s", old.Date, old.Command))
	m := &s.Matrix
	m.Sizes, m.Rates = unionInts(m.Sizes, old.Matrix.Sizes), unionInts(m.Rates, old.Matrix.Rates)
	var systems []string
	for _, sys := range []string{sysFerry, sysQEMU, sysQEMU30ms} {
		if m.has(sys) || old.Matrix.has(sys) {
			systems = append(systems, sys)
		}
	}
	m.Systems = systems
	if m.Runs < old.Matrix.Runs {
		m.Runs = old.Matrix.Runs
	}
	if s.Link.MiBs <= 0 && old.Link.MiBs > 0 {
		s.Link = old.Link
	}
	return s
}

func unionInts(a, b []int) []int {
	seen := map[int]bool{}
	var out []int
	for _, v := range append(append([]int(nil), a...), b...) {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Ints(out)
	return out
}

// Row is the median of one system's successful runs of one cell.
type Row struct {
	System string `json:"system"`
	Cell
	Workload   string   `json:"workload"`
	OK         int      `json:"ok_runs"`
	Failed     int      `json:"failed_runs"`
	Errors     []string `json:"errors,omitempty"`
	TotalS     float64  `json:"total_s"`
	DowntimeS  float64  `json:"downtime_s"`
	GapS       float64  `json:"guest_gap_s"`
	SentMiB    float64  `json:"sent_mib"`
	TouchedMiB float64  `json:"touched_mib"`
	Rounds     float64  `json:"rounds"`
	Progress   float64  `json:"guest_progress"`
	RateBefore float64  `json:"dirty_before_mib_s"`
	StreamMiBs float64  `json:"stream_mib_s"`
	Throttle   float64  `json:"throttle"` // Ferry: auto-converge's last cut; QEMU: max cpu-throttle-percentage / 100
}

// Target is one of the goals the bench checks.
type Target struct {
	Name   string  `json:"name"`
	Want   string  `json:"want"`
	Value  float64 `json:"value"`
	Status string  `json:"status"` // "met", "missed", "pending" (Ferry or QEMU figure missing), "info"
	Detail string  `json:"detail"`
}

func medianF(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	v = append([]float64(nil), v...)
	sort.Float64s(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}

// rows reduces results to one row per system and cell, in matrix order.
func rows(m Matrix, results []Result) []Row {
	var out []Row
	for _, c := range m.Cells() {
		for _, sys := range m.Systems {
			row := Row{System: sys, Cell: c, Workload: c.Workload()}
			var tot, dt, gap, sent, touched, rounds, prog, before, stream, thr []float64
			for _, r := range results {
				if r.System != sys || r.Cell != c {
					continue
				}
				if !r.OK {
					row.Failed++
					row.Errors = append(row.Errors, r.Error)
					continue
				}
				row.OK++
				tot, dt, gap = append(tot, r.TotalS), append(dt, r.DowntimeS), append(gap, r.GuestGapS)
				sent, touched = append(sent, float64(r.Bytes)/(1<<20)), append(touched, float64(r.TouchedBytes)/(1<<20))
				rounds, prog, before = append(rounds, float64(r.Rounds)), append(prog, r.Progress), append(before, r.DirtyBefore)
				stream = append(stream, r.StreamMiBs)
				switch {
				case r.Ferry != nil:
					thr = append(thr, r.Ferry.Throttle)
				case r.QEMU != nil:
					thr = append(thr, float64(r.QEMU.MaxThrottle)/100)
				}
			}
			if row.OK+row.Failed == 0 {
				continue
			}
			row.TotalS, row.DowntimeS, row.GapS = medianF(tot), medianF(dt), medianF(gap)
			row.SentMiB, row.TouchedMiB, row.Rounds = medianF(sent), medianF(touched), medianF(rounds)
			row.Progress, row.RateBefore, row.StreamMiBs, row.Throttle = medianF(prog), medianF(before), medianF(stream), medianF(thr)
			out = append(out, row)
		}
	}
	return out
}

func findRow(rs []Row, sys string, mib, rate int) *Row {
	for i := range rs {
		if rs[i].System == sys && rs[i].GuestMiB == mib && rs[i].RateMiB == rate && rs[i].OK > 0 {
			return &rs[i]
		}
	}
	return nil
}

// targets checks the goals against the medians.
func targets(rs []Row, link LinkResult) []Target {
	gapRatio := func(name string, rate int, want float64) Target {
		t := Target{Name: name, Want: fmt.Sprintf("Ferry's guest-observed gap <= %.1fx QEMU's (defaults)", want)}
		f, q := findRow(rs, sysFerry, 512, rate), findRow(rs, sysQEMU, 512, rate)
		switch {
		case f == nil && q == nil:
			t.Status, t.Detail = "pending", "neither measured"
		case f == nil:
			t.Status, t.Detail = "pending", fmt.Sprintf("Ferry not measured; QEMU %.0f ms", q.GapS*1e3)
		case q == nil:
			t.Status, t.Detail = "pending", fmt.Sprintf("QEMU not measured; Ferry %.0f ms", f.GapS*1e3)
		default:
			t.Value = f.GapS / q.GapS
			t.Status = status(t.Value <= want)
			t.Detail = fmt.Sprintf("Ferry %.0f ms, QEMU %.0f ms", f.GapS*1e3, q.GapS*1e3)
			if f.Rounds == 0 {
				// The hypervisor without pre-copy: the target is for live migration.
				t.Status = "pending"
				t.Detail = "Ferry still stop-and-copy (no rounds): " + t.Detail
			}
			if q30 := findRow(rs, sysQEMU30ms, 512, rate); q30 != nil {
				t.Detail += fmt.Sprintf(" (QEMU at 30 ms: %.0f ms, ratio %.2f)", q30.GapS*1e3, f.GapS/q30.GapS)
			}
		}
		return t
	}
	out := []Target{
		gapRatio("idle 512 MiB guest: guest-observed gap", 0, 0.8),
		gapRatio("512 MiB guest dirtying 8 MiB/s: guest-observed gap", 8, 1.0),
	}
	t := Target{Name: "idle guests: bytes sent / memory touched", Want: "<= 1.1"}
	var worst *Row
	for i := range rs {
		r := &rs[i]
		if r.System == sysFerry && r.RateMiB == 0 && r.OK > 0 && r.TouchedMiB > 0 {
			if worst == nil || r.SentMiB/r.TouchedMiB > worst.SentMiB/worst.TouchedMiB {
				worst = r
			}
		}
	}
	if worst == nil {
		t.Status, t.Detail = "pending", "no idle Ferry migration measured"
	} else {
		t.Value = worst.SentMiB / worst.TouchedMiB
		t.Status = status(t.Value <= 1.1)
		t.Detail = fmt.Sprintf("worst: %d MiB guest, %.1f MiB sent for %.1f MiB touched", worst.GuestMiB, worst.SentMiB, worst.TouchedMiB)
	}
	out = append(out, t)
	t = Target{Name: "Ferry's stream throughput / raw management link", Want: "report (no threshold)", Status: "info"}
	var best *Row
	for i := range rs {
		if r := &rs[i]; r.System == sysFerry && r.OK > 0 && (best == nil || r.StreamMiBs > best.StreamMiBs) {
			best = r
		}
	}
	switch {
	case link.MiBs <= 0:
		t.Status, t.Detail = "pending", "raw link not measured: "+link.Error
	case best == nil:
		t.Status, t.Detail = "pending", fmt.Sprintf("no Ferry migration measured; raw link %.1f MiB/s", link.MiBs)
	default:
		t.Value = best.StreamMiBs / link.MiBs
		t.Detail = fmt.Sprintf("best stream %.1f MiB/s (%d MiB guest, %s), raw link %.1f MiB/s", best.StreamMiBs, best.GuestMiB, best.Workload, link.MiBs)
	}
	return append(out, t)
}

func status(ok bool) string {
	if ok {
		return "met"
	}
	return "missed"
}

// writeMigration writes migration.json, migration.md and migration.png.
func writeMigration(dir string, s MigrationSummary) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for i := range s.Results {
		s.Results[i].settle() // derived figures follow the code that renders them
	}
	s.Rows = rows(s.Matrix, s.Results)
	s.Targets = targets(s.Rows, s.Link)
	j, _ := json.MarshalIndent(s, "", "  ")
	if err := os.WriteFile(filepath.Join(dir, "migration.json"), append(j, '\n'), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "migration.md"), []byte(renderMigration(s)), 0o644); err != nil {
		return err
	}
	return plotMigration(filepath.Join(dir, "migration.png"), s.Rows)
}

// cellOf formats one figure of each system for a side-by-side cell.
func cellOf(rs []Row, systems []string, c Cell, f func(Row) string) string {
	var parts []string
	for _, sys := range systems {
		var r *Row
		for i := range rs {
			if rs[i].System == sys && rs[i].Cell == c {
				r = &rs[i]
			}
		}
		switch {
		case r == nil && sys == sysFerry:
			parts = append(parts, "pending")
		case r == nil:
			parts = append(parts, "--")
		case r.OK == 0:
			parts = append(parts, "failed")
		default:
			parts = append(parts, f(*r))
		}
	}
	return strings.Join(parts, " / ")
}

func ms(s float64) string { return fmt.Sprintf("%.0f", s*1e3) }

func renderMigration(s MigrationSummary) string {
	var b strings.Builder
	m := s.Matrix
	names := systemName
	// Ferry's column is always there: "pending" until it is measured.
	side := []string{sysFerry}
	for _, sys := range m.Systems {
		if sys != sysFerry {
			side = append(side, sys)
		}
	}
	var cols []string
	for _, sys := range side {
		cols = append(cols, names[sys])
	}
	order := strings.Join(cols, " / ")
	fmt.Fprintf(&b, "# Migration: Ferry and QEMU's own live migration\n\n")
	lo, hi := 0, 0
	for _, r := range s.Rows {
		if n := r.OK + r.Failed; lo == 0 || n < lo {
			lo = n
		}
		if n := r.OK + r.Failed; n > hi {
			hi = n
		}
	}
	runs := fmt.Sprint(hi)
	if lo != hi {
		runs = fmt.Sprintf("%d-%d", lo, hi)
	}
	fmt.Fprintf(&b, "Written by `%s` on %s (%s run(s) of each cell; medians).\n", s.Command, s.Date, runs)
	for _, k := range s.Kept {
		fmt.Fprintf(&b, "Results it did not measure are kept from the run of %s.\n", k)
	}
	fmt.Fprintf(&b, "\n")
	fmt.Fprintf(&b, "Boards: %s, `-M %s -cpu %s`, TCG, one vCPU, a 2-core host; guest kernel %s.\n", s.QEMU, s.Machine, s.CPU, s.Kernel)
	fmt.Fprintf(&b, "The guest runs `guest.mode=migrate guest.pattern_mb=64 guest.hb=1` (guest/README.md), dirtying a %d MiB tmpfs region\n", m.DirtyMiB)
	fmt.Fprintf(&b, "(`guest.dirty_mb=%d guest.dirty_rate=<r>`) in the dirtying cells; \"max\" asks %d MiB/s, i.e. as fast as the guest can.\n\n", m.DirtyMiB, maxRate)
	fmt.Fprintf(&b, "- **Ferry**: two Ferry boards (guest RAM + 128 MiB carve-out) on a ferry-switch on 127.0.0.1, `ferryctl migrate -json`")
	if s.Image != "" && m.has(sysFerry) {
		fmt.Fprintf(&b, ", image %s", s.Image)
	}
	if !m.has(sysFerry) {
		fmt.Fprintf(&b, " (not measured in this run: pending)")
	} else if m.Downtime > 0 {
		fmt.Fprintf(&b, " (downtime limit %v", m.Downtime)
		if m.MaxTime > 0 {
			fmt.Fprintf(&b, ", max time %v", m.MaxTime)
		}
		fmt.Fprintf(&b, ", passed only if ferryctl has the flags)")
	}
	fmt.Fprintf(&b, ".\n- **QEMU**: QEMU's own migration of the same guest booted natively (`kvm-arm.mode=nvhe`, see DESIGN.md), QMP `migrate` to\n")
	fmt.Fprintf(&b, "  `-incoming defer` over tcp:127.0.0.1; defaults (300 ms downtime limit, 128 MiB/s, no auto-converge). **QEMU 30 ms**: the same\n")
	fmt.Fprintf(&b, "  guest migrated on from there with `downtime-limit` 30 ms and auto-converge, as Ferry's defaults. Cancelled after %v.\n\n", m.QEMUTimeout)
	fmt.Fprintf(&b, "Downtime (own) is what the migrator reports; the guest gap is the largest interval between consecutive `FERRY-HB` lines\n")
	fmt.Fprintf(&b, "(~17 ms apart) on the two consoles, host arrival times, from 1 s before the migration to 3 s after. Guest progress is\n")
	fmt.Fprintf(&b, "the guest's dirtying (or heartbeat) rate across the migration, downtime included, over the rate before it (1: not slowed).\n")
	fmt.Fprintf(&b, "Rounds: Ferry's pre-copy rounds including the stopped one (0: stop-and-copy); QEMU's dirty-sync-count.\n\n")

	fmt.Fprintf(&b, "## Targets\n\n| target | want | value | status | figures |\n|---|---|---|---|---|\n")
	for _, t := range s.Targets {
		v := "--"
		if t.Value > 0 {
			v = fmt.Sprintf("%.2f", t.Value)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", t.Name, t.Want, v, t.Status, t.Detail)
	}
	if s.Link.MiBs > 0 {
		fmt.Fprintf(&b, "\nRaw management link, measured at the start of the matrix run (cmd/ferry-nettest, TCP, no TLS, MTU %d, %d MiB): **%.1f MiB/s**.\n", s.Link.MTU, s.Link.MiB, s.Link.MiBs)
	} else {
		fmt.Fprintf(&b, "\nRaw management link: not measured (%s).\n", s.Link.Error)
	}

	fmt.Fprintf(&b, "\n## Side by side (%s)\n\n", order)
	fmt.Fprintf(&b, "| guest | workload | guest gap ms | Ferry / QEMU gap | downtime (own) ms | total s | sent MiB | rounds | guest progress |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range m.Cells() {
		ratio := "--"
		if f, q := findRow(s.Rows, sysFerry, c.GuestMiB, c.RateMiB), findRow(s.Rows, sysQEMU, c.GuestMiB, c.RateMiB); f != nil && q != nil && q.GapS > 0 {
			ratio = fmt.Sprintf("%.2f", f.GapS/q.GapS)
		}
		fmt.Fprintf(&b, "| %d MiB | %s | %s | %s | %s | %s | %s | %s | %s |\n", c.GuestMiB, c.Workload(),
			cellOf(s.Rows, side, c, func(r Row) string { return ms(r.GapS) }), ratio,
			cellOf(s.Rows, side, c, func(r Row) string { return ms(r.DowntimeS) }),
			cellOf(s.Rows, side, c, func(r Row) string { return fmt.Sprintf("%.2f", r.TotalS) }),
			cellOf(s.Rows, side, c, func(r Row) string { return fmt.Sprintf("%.0f", r.SentMiB) }),
			cellOf(s.Rows, side, c, func(r Row) string { return fmt.Sprintf("%.0f", r.Rounds) }),
			cellOf(s.Rows, side, c, func(r Row) string { return fmt.Sprintf("%.2f", r.Progress) }))
	}

	fmt.Fprintf(&b, "\n## Every run\n\n| system | guest | workload | run | total s | downtime ms | guest gap ms | switch gap ms | sent MiB | touched MiB | rounds | stream MiB/s | dirty before MiB/s | progress | host load | notes |\n")
	fmt.Fprintf(&b, "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range s.Results {
		if !r.OK {
			fmt.Fprintf(&b, "| %s | %d MiB | %s | %d | failed | | | | | | | | | | %s | %s |\n", names[r.System], r.GuestMiB, r.Workload, r.Run, loadStr(r.HostLoad), mdEscape(r.Error))
			continue
		}
		fmt.Fprintf(&b, "| %s | %d MiB | %s | %d | %.2f | %s | %s | %s | %.1f | %.1f | %d | %.1f | %.1f | %.2f | %s | %s |\n",
			names[r.System], r.GuestMiB, r.Workload, r.Run, r.TotalS, ms(r.DowntimeS), ms(r.GuestGapS), ms(r.SwitchGapS),
			float64(r.Bytes)/(1<<20), float64(r.TouchedBytes)/(1<<20), r.Rounds, r.StreamMiBs, r.DirtyBefore, r.Progress, loadStr(r.HostLoad), notes(r))
	}
	fmt.Fprintf(&b, "\n![guest-observed gap against dirty rate](migration.png)\n")
	return b.String()
}

// notes is the per-run detail column: Ferry's switch reason, throttle and
// guest CPU; QEMU's throttle.
func notes(r Result) string {
	var n []string
	if f := r.Ferry; f != nil {
		if len(f.Rounds) == 0 {
			n = append(n, "stop-and-copy")
		}
		if f.Switch != "" {
			n = append(n, "switch: "+f.Switch)
		}
		if f.Throttle > 0 {
			n = append(n, fmt.Sprintf("throttle %.0f%%", f.Throttle*100))
		}
		if f.GuestCPU > 0 {
			n = append(n, fmt.Sprintf("guest CPU %.2f", f.GuestCPU))
		}
	}
	if q := r.QEMU; q != nil && q.MaxThrottle > 0 {
		n = append(n, fmt.Sprintf("throttle %d%%", q.MaxThrottle))
	}
	if r.DirtyBefore > 0 && r.ProgressBy == "heartbeat" {
		n = append(n, "progress from heartbeats (no dirtying line on the destination in time)")
	}
	return strings.Join(n, ", ")
}

// loadStr is a host load figure, "--" for runs that did not record it.
func loadStr(l float64) string {
	if l <= 0 {
		return "--"
	}
	return fmt.Sprintf("%.1f", l)
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}
