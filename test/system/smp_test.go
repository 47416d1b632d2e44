// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// smpCPU is the -cpu of a board whose CPUs Ferry starts: QEMU's built-in
// PSCI (no firmware on its secure board) starts a CPU that traps to EL3
// on the SVE and SME registers and on pointer authentication, which the
// boot CPU has (measured: docs/smp.md), where real firmware (TF-A)
// configures every core alike.
const smpCPU = "max,pauth=off,sve=off,sme=off"

// TestSecondaryCPUs: on a board with two CPUs and ferry.cpus=all, Ferry
// starts the second by PSCI and runs Go there; with ferry.selftest=smp
// that CPU allocates and drops 256 MiB while the guest boots on the
// first, so collections stop the world across both CPUs (and kick the
// boot CPU out of the guest). The guest gets a vCPU on each CPU: it sees
// two, runs a task pinned to each, takes CPU 1 offline (PSCI CPU_OFF,
// AFFINITY_INFO) and back online (CPU_ON again), and runs on it again;
// rebooted, it comes back with both.
func TestSecondaryCPUs(t *testing.T) {
	b := board(t, false, "guest.mode=shell")
	b.SMP, b.CPU = 2, smpCPU
	b.Words = "ferry.cpus=all ferry.selftest=smp"
	p := start(t, b)
	expect(t, p, `^ferry: cpu 1 up: MPIDR 0x1$`, 0, bootTimeout)
	expect(t, p, `^ferry: cpus: 2, Go on each \(GOMAXPROCS 2\)`, 0, 10*time.Second)
	expect(t, p, `^ferry: cpu 1: selftest: 256 MiB allocated and dropped on cpu 1 in \S+, [1-9]\d* collections`, 0, 3*bootTimeout)
	expect(t, p, `CPU1: Booted secondary processor 0x0000000001`, 0, bootTimeout)
	expect(t, p, `smp: Brought up 1 node, 2 CPUs`, 0, bootTimeout)
	_, at := expect(t, p, bootID.String(), 0, bootTimeout)
	run := func(cmd, want string) { at = shell(t, p, at, cmd, want) }
	run(`echo cpus-$(nproc)`, `^cpus-2$`)
	for _, c := range []string{"0", "1"} {
		run(`taskset -c `+c+` sh -c 'i=0; while [ $i -lt 3000 ]; do i=$((i+1)); done; echo spun-on-`+c+`-$(cat /proc/self/stat | cut -d" " -f39)'`, `^spun-on-`+c+`-`+c+`$`)
	}
	run(`echo 0 > /sys/devices/system/cpu/cpu1/online; echo online-$(cat /sys/devices/system/cpu/online)`, `^online-0$`)
	run(`echo 1 > /sys/devices/system/cpu/cpu1/online; echo online-$(cat /sys/devices/system/cpu/online)`, `^online-0-1$`)
	run(`taskset -c 1 sh -c 'echo again-on-$(cat /proc/self/stat | cut -d" " -f39)'`, `^again-on-1$`)
	// A reboot stops vCPU 1 before the guest starts again, which then
	// brings it up anew.
	run(`reboot -f`, `^ferry: guest asked for SYSTEM_RESET: restarted in `)
	_, at = expect(t, p, `smp: Brought up 1 node, 2 CPUs`, at, bootTimeout)
	_, at = expect(t, p, bootID.String(), at, bootTimeout)
	run(`echo cpus-$(nproc)`, `^cpus-2$`)
}

// shell types cmd into the guest's shell and waits for a line matching
// want after line at; it returns where that line is.
func shell(t *testing.T, p *qemu.Process, at int, cmd, want string) int {
	t.Helper()
	if err := p.Send(cmd + "\n"); err != nil {
		t.Fatal(err)
	}
	_, at = expect(t, p, want, at, time.Minute)
	return at
}

// TestTwoVCPUGuestMoves: a guest with two vCPUs moves (vcpuGuestMoves);
// a board with one CPU refuses it.
func TestTwoVCPUGuestMoves(t *testing.T) { vcpuGuestMoves(t, 2) }

// TestFourVCPUGuestMoves: on boards with four CPUs every one comes up,
// runs Go and a vCPU of the guest's, which moves (vcpuGuestMoves); a
// board with two CPUs refuses it. (Four CPUs once hung one boot in five
// at the first collection: decisions.md, "Why a wake pokes the idle
// threads".)
func TestFourVCPUGuestMoves(t *testing.T) { vcpuGuestMoves(t, 4) }

// vcpuGuestMoves: a guest with n vCPUs, a counter pinned to each, moves
// to another board with the same n CPUs and every counter goes on there;
// the last CPU, which the guest took offline before moving back, is
// offline after it, and comes back online. The board's status shows
// every vCPU. A board with n/2 CPUs refuses the guest, saying why.
func vcpuGuestMoves(t *testing.T, n int) {
	smp := func(b *qemu.Board) { b.SMP, b.CPU, b.Words = n, smpCPU, "ferry.cpus=all" }
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "guest.mode=shell", smp)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "", smp)
	l.board("c", "10.77.0.14", "52:54:00:77:00:14", "", func(b *qemu.Board) { // the same CPUs, half as many
		b.CPU = smpCPU
		if n > 2 {
			b.SMP, b.Words = n/2, "ferry.cpus=all"
		}
	})
	last := n - 1
	expect(t, a, fmt.Sprintf(`^ferry: cpu %d up: MPIDR %#x$`, last, last), 0, bootTimeout)
	expect(t, a, fmt.Sprintf(`^ferry: cpus: %d, Go on each \(GOMAXPROCS %d\)`, n, n), 0, 20*time.Second)
	expect(t, a, fmt.Sprintf(`smp: Brought up 1 node, %d CPUs`, n), 0, bootTimeout)
	_, at := expect(t, a, bootID.String(), 0, bootTimeout)
	var vcpus, mpidrs []string
	for k := range n {
		vcpus = append(vcpus, fmt.Sprintf(`%d on \(MPIDR %#x, \d+ exits\)`, k, k))
		mpidrs = append(mpidrs, fmt.Sprintf("%#x", 0x80000000+k))
	}
	out, err := l.ferryctl("", "status", "10.77.0.11")
	if err != nil || !regexp.MustCompile(`vcpus +`+strings.Join(vcpus, ", ")).MatchString(out) {
		t.Fatalf("status: %v\n%s", err, out)
	}
	out, err = l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.14")
	refused := fmt.Sprintf(`CPUs.*%d \(MPIDR %s\).*%d \(MPIDR %s\)`, n, strings.Join(mpidrs, " "), n/2, strings.Join(mpidrs[:n/2], " "))
	if err == nil || !regexp.MustCompile(refused).MatchString(out) {
		t.Fatalf("a destination with %d CPUs for a guest with %d: %v\n%s", n/2, n, err, out)
	}
	if out, err := l.ferryctl("", "status", "10.77.0.11"); err != nil || !regexp.MustCompile(`guest +running`).MatchString(out) {
		t.Fatalf("status after the refusal: %v\n%s", err, out)
	}
	for k := range n {
		at = shell(t, a, at, fmt.Sprintf(`taskset -c %d sh -c 'n=0; while :; do n=$((n+1)); echo $n > /tmp/c%d; done' & echo started-%d`, k, k, k), fmt.Sprintf(`^started-%d$`, k))
	}
	before, at := pinnedCounts(t, a, at, n)
	if out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12"); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("ferryctl migrate: %v\n%s", err, out)
	}
	_, at = expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	after, at := pinnedCounts(t, b, at, n)
	later, at := pinnedCounts(t, b, at, n)
	for k := range n {
		if after[k] < before[k] || later[k] <= after[k] {
			t.Fatalf("counter %d: %d before the move, %d then %d after it: it did not go on", k, before[k], after[k], later[k])
		}
	}
	onLast := fmt.Sprintf(`taskset -c %d sh -c 'echo on-$(cat /proc/self/stat | cut -d" " -f39)'`, last)
	at = shell(t, b, at, onLast, fmt.Sprintf(`^on-%d$`, last))
	offline := "0"
	if n > 2 {
		offline = fmt.Sprintf("0-%d", last-1)
	}
	at = shell(t, b, at, fmt.Sprintf(`echo 0 > /sys/devices/system/cpu/cpu%d/online; echo online-$(cat /sys/devices/system/cpu/online)`, last), fmt.Sprintf(`^online-%s$`, offline))

	if out, err := l.ferryctl("", "migrate", "10.77.0.12", "10.77.0.11"); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("ferryctl migrate back: %v\n%s", err, out)
	}
	_, at = expect(t, a, `ferry: guest received from b`, 0, time.Minute)
	at = shell(t, a, at, `echo online-$(cat /sys/devices/system/cpu/online)`, fmt.Sprintf(`^online-%s$`, offline))
	at = shell(t, a, at, fmt.Sprintf(`echo 1 > /sys/devices/system/cpu/cpu%d/online; echo online-$(cat /sys/devices/system/cpu/online)`, last), fmt.Sprintf(`^online-0-%d$`, last))
	shell(t, a, at, onLast, fmt.Sprintf(`^on-%d$`, last))
	if out, err := l.ferryctl("", "status", "10.77.0.11"); err != nil || !regexp.MustCompile(`guest +running`).MatchString(out) || !regexp.MustCompile(fmt.Sprintf(`vcpus +0 on .*, %d on `, last)).MatchString(out) {
		t.Fatalf("status after the way back: %v\n%s", err, out)
	}
}

// pinnedCounts reads the guest's n pinned counters after a second.
func pinnedCounts(t *testing.T, p *qemu.Process, at, n int) ([]int, int) {
	t.Helper()
	var files []string
	for k := range n {
		files = append(files, fmt.Sprintf("$(r /tmp/c%d)", k))
	}
	// A counter's file is empty while it writes it: read until it is not.
	if err := p.Send(`sleep 1; r() { v=; while [ -z "$v" ]; do v=$(cat $1); done; echo $v; }; echo counts-` + strings.Join(files, "-") + "\n"); err != nil {
		t.Fatal(err)
	}
	ln, at := expect(t, p, `^counts-\d+(-\d+)*$`, at, time.Minute)
	var c []int
	for _, f := range strings.Split(strings.TrimPrefix(ln.Text, "counts-"), "-") {
		v, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("%q: %v", ln.Text, err)
		}
		c = append(c, v)
	}
	if len(c) != n {
		t.Fatalf("%q: %d counters, want %d", ln.Text, len(c), n)
	}
	return c, at + 1 // the next read's line comes after this one
}
