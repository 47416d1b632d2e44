// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// QEMU's own live migration is the baseline: the same kernel, initramfs,
// workload and guest memory, booted directly on the board (no Ferry) with
// kvm-arm.mode=nvhe -- with the kernel in VHE mode at EL2, QEMU 7.2 loses
// the EL2 timer state and the destination freezes (DESIGN.md). The
// destination is started with -incoming defer and both are driven through
// QMP on unix sockets; the stream goes over tcp:127.0.0.1.

var (
	readyRe   = regexp.MustCompile(`^FERRY-PATTERN-CHECK .* OK`)
	counterRe = regexp.MustCompile(`^FERRY-COUNTER `)
	hbRe      = regexp.MustCompile(`^FERRY-HB `)
)

// qemuVM is one QEMU board of the baseline with its QMP connection.
type qemuVM struct {
	p   *qemu.Process
	qmp *qmp
}

func startQEMUVM(ctx context.Context, base qemu.Board, c Cell, sock string, incoming bool) (*qemuVM, error) {
	b := base
	b.Image = "" // the kernel straight at EL2, as QEMU's guest
	b.Memory = fmt.Sprintf("%dM", c.GuestMiB)
	b.Append = c.GuestArgs() + " kvm-arm.mode=nvhe"
	b.Switch = ""
	b.Extra = append(append([]string(nil), b.Extra...), "-qmp", "unix:"+sock+",server=on,wait=off")
	if incoming {
		b.Extra = append(b.Extra, "-incoming", "defer")
	}
	p, err := b.Start(ctx, nil)
	if err != nil {
		return nil, err
	}
	q, err := dialQMP(sock, 30*time.Second)
	if err != nil {
		p.Kill()
		return nil, err
	}
	return &qemuVM{p: p, qmp: q}, nil
}

func (v *qemuVM) stop() {
	v.qmp.Close()
	v.p.Kill()
}

// freePort returns a TCP port on 127.0.0.1 nobody listens on just now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// qemuCell runs the QEMU systems of m on one cell: the guest boots once and
// moves from board to board, first with QEMU's defaults, then with the
// 30 ms variant (each migration measured on its own pair of consoles).
func qemuCell(base qemu.Board, m Matrix, c Cell, run int) []Result {
	var systems []string
	for _, s := range []string{sysQEMU, sysQEMU30ms} {
		if m.has(s) {
			systems = append(systems, s)
		}
	}
	if len(systems) == 0 {
		return nil
	}
	fail := func(from int, err error) []Result {
		var out []Result
		for _, s := range systems[from:] {
			r := Result{System: s, Cell: c, Run: run, Error: err.Error()}
			r.settle()
			out = append(out, r)
		}
		return out
	}
	dir, err := os.MkdirTemp("", "ferry-bench-qmp")
	if err != nil {
		return fail(0, err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()

	src, err := startQEMUVM(ctx, base, c, filepath.Join(dir, "0.qmp"), false)
	if err != nil {
		return fail(0, err)
	}
	defer src.stop()
	if _, _, err := src.p.Expect(readyRe, 0, 5*time.Minute); err != nil {
		return fail(0, fmt.Errorf("source guest not ready: %w", err))
	}
	var out []Result
	for i, sys := range systems {
		time.Sleep(beforeWindow + time.Second) // the undisturbed rate, measured before
		dst, err := startQEMUVM(ctx, base, c, filepath.Join(dir, fmt.Sprintf("%d.qmp", i+1)), true)
		if err != nil {
			return append(out, fail(i, err)...)
		}
		defer dst.stop()
		r := qemuMigrate(src, dst, m, c, sys, run)
		out = append(out, r)
		if !r.OK {
			return append(out, fail(i+1, fmt.Errorf("not run: the %s migration before it failed", sys))...)
		}
		src = dst
	}
	return out
}

// qemuMigrate moves the guest from src to dst and measures it.
func qemuMigrate(src, dst *qemuVM, m Matrix, c Cell, sys string, run int) (r Result) {
	r = Result{System: sys, Cell: c, Run: run, QEMU: &QEMUDetail{}}
	defer r.settle()
	fail := func(err error) Result {
		r.Error = err.Error()
		saveConsoles(fmt.Sprintf("%s-%d-%s-run%d", sys, c.GuestMiB, strings.ReplaceAll(c.Workload(), " MiB/s", ""), run), src.p, dst.p)
		return r
	}
	port, err := freePort()
	if err != nil {
		return fail(err)
	}
	uri := fmt.Sprintf("tcp:127.0.0.1:%d", port)
	if _, err := dst.qmp.run("migrate-incoming", map[string]any{"uri": uri}); err != nil {
		return fail(err)
	}
	if sys == sysQEMU30ms {
		r.QEMU.DowntimeLimitMS, r.QEMU.AutoConverge = 30, true
		caps := []map[string]any{{"capability": "auto-converge", "state": true}}
		if _, err := src.qmp.run("migrate-set-capabilities", map[string]any{"capabilities": caps}); err != nil {
			return fail(err)
		}
		if _, err := src.qmp.run("migrate-set-parameters", map[string]any{"downtime-limit": 30}); err != nil {
			return fail(err)
		}
	}
	start := time.Now()
	if _, err := src.qmp.run("migrate", map[string]any{"uri": uri}); err != nil {
		return fail(err)
	}
	var mi MigrateInfo
	for {
		mi, err = src.qmp.queryMigrate()
		if err != nil {
			return fail(err)
		}
		if mi.CPUThrottle > r.QEMU.MaxThrottle {
			r.QEMU.MaxThrottle = mi.CPUThrottle
		}
		if mi.finished() {
			break
		}
		if time.Since(start) > m.QEMUTimeout {
			src.qmp.run("migrate_cancel", nil)
			return fail(fmt.Errorf("did not converge within %v (%d iterations, %.1f MiB sent); cancelled",
				m.QEMUTimeout, mi.RAM.DirtySyncCount, float64(mi.RAM.Transferred)/(1<<20)))
		}
		time.Sleep(50 * time.Millisecond)
	}
	end := time.Now()
	r.QEMU.Final = mi
	if mi.Status != "completed" {
		return fail(fmt.Errorf("migration %s: %s", mi.Status, mi.ErrorDesc))
	}
	// The destination must carry on: heartbeats, then a counter line and the
	// checks after the move.
	if _, _, err := dst.p.Expect(hbRe, 0, 30*time.Second); err != nil {
		return fail(fmt.Errorf("destination silent after the migration (frozen?): %w", err))
	}
	time.Sleep(3 * time.Second)
	if _, _, err := dst.p.Expect(readyRe, 0, time.Minute); err != nil {
		return fail(fmt.Errorf("destination: no pattern check after the migration: %w", err))
	}
	if c.DirtyMiB > 0 && c.RateMiB > 0 {
		// A pass of the dirtied region checked on this side (OK or BAD).
		if _, _, err := dst.p.Expect(dirtyChk, 0, time.Minute); err != nil {
			return fail(fmt.Errorf("destination: no dirty-region check after the migration: %w", err))
		}
	}
	dl := dst.p.Lines()
	r.OK = true
	r.TotalS, r.DowntimeS = float64(mi.TotalTime)/1e3, float64(mi.Downtime)/1e3
	r.Bytes, r.TouchedBytes = mi.RAM.Transferred, mi.RAM.NormalBytes
	r.Rounds = int(mi.RAM.DirtySyncCount)
	if d := float64(mi.TotalTime-mi.SetupTime) / 1e3; d > 0 {
		r.StreamMiBs = float64(mi.RAM.Transferred) / (1 << 20) / d
	}
	measure(&r, src.p.Lines(), dl, start, end)
	if r.DirtyBefore > 0 && r.DirtyDuring == 0 {
		saveConsoles(fmt.Sprintf("%s-%d-%s-run%d-nodirty", sys, c.GuestMiB, strings.ReplaceAll(c.Workload(), " MiB/s", ""), run), src.p, dst.p) // no dirtying line on the destination in time: keep the evidence
	}
	r.DstOK = okChecks(dl)
	if bad := badChecks(dl); len(bad) > 0 {
		r.OK, r.Bad = false, bad
		r.Error = "destination: " + strings.Join(bad, "; ")
	}
	return r
}

// measure fills in what the consoles say about a migration that ran from
// start to end.
func measure(r *Result, src, dst []qemu.Line, start, end time.Time) {
	g := heartbeatGap(src, dst, start.Add(-time.Second), end.Add(3*time.Second))
	r.GuestGapS, r.SwitchGapS, r.GuestClockGapS = g.MaxS, g.SwitchS, g.GuestClockS
	r.DirtyBefore, r.DirtyDuring = dirtyProgress(src, dst, start, end)
	r.HBBefore, r.HBDuring = beatRate(src, dst, start, end)
}
