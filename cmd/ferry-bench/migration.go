// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// migrationBench runs the matrix -- Ferry and QEMU's own migration on
// every cell, m.Runs times -- and the raw link throughput, and writes
// docs/bench/migration.{md,json,png}. Cells run one at a time: the two
// boards of a migration already use both cores of the test machine.
//
// With keep, the results of an earlier migration.json in out that this run
// does not measure (other systems or cells) are kept beside the new ones.
func migrationBench(base qemu.Board, ferryctl, out string, m Matrix, link LinkResult, command string, keep bool) error {
	s := MigrationSummary{
		Date: time.Now().UTC().Format(time.RFC3339), QEMU: qemuVersion(base.QEMU), CPU: base.CPU, Machine: base.Machine(),
		Kernel: kernelVersion(base.Kernel), Command: command, Matrix: m, Link: link,
	}
	if keep {
		old, err := readSummary(filepath.Join(out, "migration.json"))
		if err != nil {
			return fmt.Errorf("-keep: %w", err)
		}
		s = keepEarlier(s, old)
	}
	var keys string
	var flags []string
	if m.has(sysFerry) {
		s.Image = imageID(base.Image)
		var err error
		if keys, err = os.MkdirTemp("", "ferry-bench-keys"); err != nil {
			return err
		}
		defer os.RemoveAll(keys)
		if _, err := pki.Provision(keys, "ferry-bench", "a=10.77.0.11", "b=10.77.0.12", "operator:ctl"); err != nil {
			return err
		}
		flags = ferryctlFlags(ferryctl, m)
	}
	for _, c := range m.Cells() {
		for run := 1; run <= m.Runs; run++ {
			var rs []Result
			if m.has(sysFerry) {
				time.Sleep(settle)
				rs = append(rs, ferryMigrate(base, ferryctl, keys, flags, c, run))
			}
			if m.has(sysQEMU) || m.has(sysQEMU30ms) {
				time.Sleep(settle)
				rs = append(rs, qemuCell(base, m, c, run)...)
			}
			load := hostLoad()
			for i := range rs {
				rs[i].HostLoad = load
				printResult(rs[i])
			}
			s.Results = append(s.Results, rs...)
			// Write as we go: a long matrix that dies keeps what it measured.
			if err := writeMigration(out, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func printResult(r Result) {
	if !r.OK {
		fmt.Printf("%-9s %4d MiB %-8s run %d: FAILED: %s\n", r.System, r.GuestMiB, r.Workload, r.Run, r.Error)
		return
	}
	fmt.Printf("%-9s %4d MiB %-8s run %d: total %.2fs downtime %.0fms guest gap %.0fms, %.1f MiB sent, %d rounds, progress %.2f\n",
		r.System, r.GuestMiB, r.Workload, r.Run, r.TotalS, r.DowntimeS*1e3, r.GuestGapS*1e3, float64(r.Bytes)/(1<<20), r.Rounds, r.Progress)
}

// startPair starts boards a (10.77.0.11, with the guest base boots) and b
// (10.77.0.12, in the receive role) on the management switch at swAddr,
// with their keys from keys. The processes it started are returned with
// an error too (kill them). extra are more QEMU arguments, by board name.
func startPair(ctx context.Context, base qemu.Board, swAddr, keys string, extra map[string][]string) (ps [2]*qemu.Process, err error) {
	for i, name := range []string{"a", "b"} {
		b := base
		b.Extra = append(append([]string(nil), base.Extra...), extra[name]...)
		b.Switch, b.Name = swAddr, name
		b.IP, b.MAC = fmt.Sprintf("10.77.0.%d/24", 11+i), fmt.Sprintf("52:54:00:77:00:%02x", 0x11+i)
		b.Keys = filepath.Join(keys, name+".pem")
		if name == "b" {
			b.Kernel, b.Initrd, b.Append = "", "", ""
		}
		if ps[i], err = b.Start(ctx, nil); err != nil {
			return ps, err
		}
	}
	return ps, nil
}

// killAll kills the boards of ps that were started.
func killAll(ps []*qemu.Process) {
	for _, p := range ps {
		if p != nil {
			p.Kill()
		}
	}
}

// ferryctlFlags returns the migrate flags to pass for m's settings, if
// this ferryctl knows them (an older one does stop-and-copy and has none).
func ferryctlFlags(ferryctl string, m Matrix) []string {
	help, _ := exec.Command(ferryctl, "migrate", "-h").CombinedOutput()
	knows := func(f string) bool {
		return strings.Contains(string(help), "-"+f+" ") || strings.Contains(string(help), "-"+f+"\n")
	}
	var out []string
	if m.Downtime > 0 && knows("downtime") {
		out = append(out, "-downtime", m.Downtime.String())
	}
	if m.MaxTime > 0 && knows("max-time") {
		out = append(out, "-max-time", m.MaxTime.String())
	}
	if m.Bandwidth > 0 && knows("bandwidth") {
		out = append(out, "-bandwidth", strconv.FormatUint(m.Bandwidth, 10))
	}
	if m.NoAutoConverge && knows("no-auto-converge") {
		out = append(out, "-no-auto-converge")
	}
	return out
}

// ferryMigrate boots a guest on board a of a fresh pair of Ferry boards
// and moves it to board b with ferryctl migrate -json.
func ferryMigrate(base qemu.Board, ferryctl, keys string, flags []string, c Cell, run int) (r Result) {
	r = Result{System: sysFerry, Cell: c, Run: run, Ferry: &FerryDetail{Flags: flags}}
	defer r.settle()
	var ps [2]*qemu.Process
	fail := func(err error) Result {
		r.Error = err.Error()
		saveConsoles(fmt.Sprintf("ferry-%d-%s-run%d", c.GuestMiB, strings.ReplaceAll(c.Workload(), " MiB/s", ""), run), ps[0], ps[1])
		return r
	}
	sw, swAddr, err := l2switch.Start()
	if err != nil {
		return fail(err)
	}
	defer sw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	base.Memory = fmt.Sprintf("%dM", c.GuestMiB+128) // Ferry's carve-out on top
	base.Append = c.GuestArgs()
	ps, err = startPair(ctx, base, swAddr, keys, nil)
	defer killAll(ps[:])
	if err != nil {
		return fail(err)
	}
	if _, _, err := ps[0].Expect(readyRe, 0, 5*time.Minute); err != nil {
		return fail(fmt.Errorf("guest on a not ready: %w", err))
	}
	if _, _, err := ps[1].Expect(regexp.MustCompile(`ferry: management network up`), 0, time.Minute); err != nil {
		return fail(err)
	}
	time.Sleep(beforeWindow + time.Second) // the undisturbed rate, measured before
	args := []string{"-switch", swAddr, "-keys", filepath.Join(keys, "ctl.pem"), "-mtu", "65510", "migrate", "-json"}
	args = append(append(args, flags...), "10.77.0.11", "10.77.0.12")
	cmd := exec.CommandContext(ctx, ferryctl, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	start := time.Now()
	outb, err := cmd.Output()
	end := time.Now()
	var rep api.Report
	if jerr := json.Unmarshal(outb, &rep); jerr != nil {
		if err != nil {
			return fail(fmt.Errorf("ferryctl: %v: %s", err, tail(stderr.String(), 400)))
		}
		return fail(fmt.Errorf("ferryctl -json: %v: %s", jerr, outb))
	}
	ferryReport(&r, rep)
	if !rep.OK {
		return fail(fmt.Errorf("migration failed: %s", rep.Error))
	}
	if _, _, err := ps[1].Expect(hbRe, 0, 30*time.Second); err != nil {
		return fail(fmt.Errorf("b silent after the migration: %w", err))
	}
	time.Sleep(3 * time.Second)
	if _, _, err := ps[1].Expect(readyRe, 0, time.Minute); err != nil {
		return fail(fmt.Errorf("b: no pattern check after the migration: %w", err))
	}
	if c.DirtyMiB > 0 && c.RateMiB > 0 {
		// A pass of the dirtied region checked on this side (OK or BAD).
		if _, _, err := ps[1].Expect(dirtyChk, 0, time.Minute); err != nil {
			return fail(fmt.Errorf("b: no dirty-region check after the migration: %w", err))
		}
	}
	r.OK = true
	al, bl := ps[0].Lines(), ps[1].Lines()
	measure(&r, al, bl, start, end)
	if r.DirtyBefore > 0 && r.DirtyDuring == 0 {
		saveConsoles(fmt.Sprintf("ferry-%d-%s-run%d-nodirty", c.GuestMiB, strings.ReplaceAll(c.Workload(), " MiB/s", ""), run), ps[0], ps[1]) // no dirtying line on the destination in time: keep the evidence
	}
	r.DstOK = okChecks(bl)
	if bad := badChecks(bl); len(bad) > 0 {
		r.OK, r.Bad = false, bad
		r.Error = "b: " + strings.Join(bad, "; ")
	}
	return r
}

// ferryReport copies what Ferry's report says. A report without rounds is
// stop-and-copy (the hypervisor before pre-copy): everything is sent in the
// downtime.
func ferryReport(r *Result, rep api.Report) {
	f := r.Ferry
	r.TotalS, r.DowntimeS, r.Bytes = rep.Total.Seconds(), rep.Downtime.Seconds(), rep.Bytes
	f.Settings, f.Rounds, f.Parts, f.Switch = rep.Settings, rep.Rounds, rep.Parts, rep.Switch
	f.Throttle, f.GuestCPU, f.Tracking, f.Untrack, f.Faults = rep.Throttle, rep.GuestCPU, rep.Tracking, rep.Untrack, rep.Faults
	f.Pages, f.ZeroPages, f.DataPages, f.RestoreS = rep.Pages, rep.ZeroPages, rep.DataPages, rep.RestoreTime.Seconds()
	r.Rounds = len(rep.Rounds)
	const page = 4096
	sending := rep.Downtime
	if len(rep.Rounds) > 0 {
		r.TouchedBytes = (rep.Rounds[0].Pages - rep.Rounds[0].ZeroPages) * page
		sending = 0
		for _, rd := range rep.Rounds {
			sending += rd.Duration
		}
	} else {
		r.TouchedBytes = rep.DataPages * page
	}
	if sending > 0 {
		r.StreamMiBs = float64(rep.Bytes) / (1 << 20) / sending.Seconds()
	}
}

// logDir is where the consoles of a failed migration are written ("": nowhere).
var logDir = "build/bench-logs"

// saveConsoles writes the boards' consoles to logDir/<name>-<i>.log.
func saveConsoles(name string, ps ...*qemu.Process) {
	if logDir == "" {
		return
	}
	os.MkdirAll(logDir, 0o755)
	for i, p := range ps {
		if p == nil {
			continue
		}
		var b strings.Builder
		for _, l := range p.Lines() {
			fmt.Fprintf(&b, "%s %s\n", l.At.Format("15:04:05.000"), l.Text)
		}
		path := filepath.Join(logDir, fmt.Sprintf("%s-%d.log", name, i))
		if os.WriteFile(path, []byte(b.String()), 0o644) == nil {
			fmt.Println("console kept in", path)
		}
	}
}

// tail is the end of s, at most n bytes, on one line.
func tail(s string, n int) string {
	s = strings.TrimSpace(s)
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return strings.ReplaceAll(s, "\n", " / ")
}

// imageID names a Ferry image by path, size, time and SHA-256 prefix, so
// figures can be traced to the build that made them.
func imageID(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path + " (unreadable)"
	}
	st, _ := os.Stat(path)
	sum := sha256.Sum256(b)
	return fmt.Sprintf("`%s` (%d bytes, %s, sha256 %x)", path, len(b), st.ModTime().UTC().Format(time.RFC3339), sum[:6])
}

// hostLoad is the host's 1-minute load average (0 if unknown).
func hostLoad() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

func kernelVersion(kernel string) string {
	v, err := os.ReadFile(filepath.Join(filepath.Dir(kernel), "kernel.version"))
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(v))
}

func parseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 64 {
			return nil, fmt.Errorf("guest size %q: want MiB, at least 64", f)
		}
		out = append(out, n)
	}
	return out, nil
}
