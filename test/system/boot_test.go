// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

var (
	memTotal = regexp.MustCompile(`FERRY-GUEST: mem_total_kb=(\d+)`)
	counter  = regexp.MustCompile(`FERRY-COUNTER id=(\w+) n=(\d+)`)
)

// stashSize reads the size of the boot stash Ferry keeps from its log.
var stashSize = regexp.MustCompile(`ferry: boot stash \[0x[0-9a-f]+-0x[0-9a-f]+\) \((\d+) MiB`)

// bootToCounter boots the counter workload and checks the guest reaches
// userspace, started at the given exception level, and counts. It returns
// the guest's MemTotal in KiB, and under Ferry the size of the boot stash
// Ferry keeps outside the guest's memory, in KiB.
func bootToCounter(t *testing.T, native bool, el string) (memKB, stashKB int) {
	p := start(t, board(t, native, "guest.mode=counter"))
	if !native {
		l, _ := expect(t, p, stashSize.String(), 0, bootTimeout)
		stashKB = atoi(t, stashSize.FindStringSubmatch(l.Text)[1]) << 10
	}
	_, i := expect(t, p, `CPU: All CPU\(s\) started at EL\d`, 0, bootTimeout)
	if l := p.Lines()[i].Text; !regexp.MustCompile(`started at ` + el + `$`).MatchString(l) {
		t.Fatalf("want the guest kernel started at %s, got %q", el, l)
	}
	expect(t, p, `^FERRY-GUEST: userspace up`, i, bootTimeout)
	l, i := expect(t, p, memTotal.String(), i, 30*time.Second)
	kb := atoi(t, memTotal.FindStringSubmatch(l.Text)[1])
	l1, i := expect(t, p, counter.String(), i, 30*time.Second)
	l2, _ := expect(t, p, counter.String(), i+1, 30*time.Second)
	m1, m2 := counter.FindStringSubmatch(l1.Text), counter.FindStringSubmatch(l2.Text)
	if m1[1] != m2[1] || atoi(t, m2[2]) != atoi(t, m1[2])+1 {
		t.Fatalf("counter does not count: %q then %q", l1.Text, l2.Text)
	}
	return kb, stashKB
}

// TestBoot boots the same kernel on the same board natively (at EL2) and
// under Ferry (at EL1), and checks that under Ferry the guest has lost
// exactly Ferry's 128 MiB carve-out and the boot stash (its kernel and
// initramfs, kept to boot it again when it resets itself).
func TestBoot(t *testing.T) {
	var native, ferry, stash int
	t.Run("native", func(t *testing.T) { native, _ = bootToCounter(t, true, "EL2") })
	t.Run("ferry", func(t *testing.T) { ferry, stash = bootToCounter(t, false, "EL1") })
	if native == 0 || ferry == 0 {
		t.Skip("a boot failed")
	}
	const carveOutKB = 128 << 10
	if d := native - ferry; d < carveOutKB+stash-4096 || d > carveOutKB+stash+4096 {
		t.Fatalf("MemTotal native %d KiB, under Ferry %d KiB: difference %d KiB, want the %d KiB carve-out and the %d KiB stash",
			native, ferry, d, carveOutKB, stash)
	}
}

// TestSystemOff: the guest powers off through PSCI SYSTEM_OFF, which Ferry
// takes; on a board without a management network nobody could use the
// board any more, so Ferry powers it off, and QEMU exits cleanly by
// itself.
func TestSystemOff(t *testing.T) {
	p := start(t, board(t, false, "guest.mode=bench guest.bench_iters=1000 guest.bench_mb=1 guest.bench_rounds=1"))
	expect(t, p, `^FERRY-BENCH done`, 0, bootTimeout)
	expect(t, p, `ferry: guest asked for SYSTEM_OFF: it is powered off`, 0, 30*time.Second)
	expect(t, p, `no management network: powering the board off`, 0, 30*time.Second)
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatalf("QEMU did not exit cleanly after SYSTEM_OFF: %v", err)
	}
}

// TestSystemReset: the guest reboots and Ferry restarts it on the same
// board, which is never reset (with -no-reboot QEMU would exit at a board
// reset): the guest comes back to userspace with a new boot id and its
// shell answers; then it powers off. With reboot=warm Linux reboots
// through PSCI SYSTEM_RESET2, which Ferry advertises on QEMU's PSCI 1.1
// (TestGuestResetKeepsBoard has the SYSTEM_RESET of the default cold
// reboot).
func TestSystemReset(t *testing.T) {
	b := board(t, false, "guest.mode=shell reboot=warm")
	b.Extra = []string{"-no-reboot"}
	p := start(t, b)
	l, _ := expect(t, p, bootID.String(), 0, bootTimeout)
	first := bootID.FindStringSubmatch(l.Text)[1]
	time.Sleep(2 * time.Second) // let the shell come up
	second, i := rebootGuest(t, p, "reboot -f", `ferry: guest asked for SYSTEM_RESET2 \(warm\): restarted in`, first)
	if err := p.Send("echo alive-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	expect(t, p, `^alive-42`, i, 30*time.Second)
	select {
	case <-p.Done():
		t.Fatal("QEMU exited: the board was reset")
	default:
	}
	t.Logf("boot ids %s, then %s", first, second)
	rebootGuest(t, p, "poweroff -f", `ferry: guest asked for SYSTEM_OFF: it is powered off`, "")
	if err := p.Wait(30 * time.Second); err != nil {
		t.Fatalf("QEMU did not exit cleanly after SYSTEM_OFF: %v", err)
	}
}

// holeIPA is an address of the virt board's memory map where nothing
// answers, natively or under Ferry: between the virtio-mmio transports
// (0x0a00_0000) and the platform bus (0x0c00_0000).
const holeIPA = 0x0b000000

// guestAbort has the guest's shell read addr through /dev/mem (busybox
// devmem) and checks that the guest took its own abort for it, as it does
// natively: Ferry logs the n-th external abort it gave the guest, devmem
// dies of SIGBUS (status 135) and the shell goes on. from is where to
// look in p's console; it returns where to look next.
func guestAbort(t *testing.T, p *qemu.Process, addr uint64, n, from int) int {
	t.Helper()
	mark := fmt.Sprintf("devmem-%#x-done", addr)
	if err := p.Send(fmt.Sprintf("devmem %#x 32; echo %s status=$?\n", addr, mark)); err != nil {
		t.Fatal(err)
	}
	expect(t, p, fmt.Sprintf(`ferry: guest fault %d: external abort: read at IPA %#x .*given to the guest as ESR_EL1 0x92000010 at VBAR_EL1\+0x400`, n, addr), from, time.Minute)
	_, i := expect(t, p, `Bus error`, from, 30*time.Second)
	_, i = expect(t, p, `^`+mark+` status=135`, i, 30*time.Second)
	return i
}

// TestCarveOutIsUnmapped: a guest read of Ferry's own memory, or of a hole
// in the memory map, faults into EL2 (stage 2 maps nothing there); the
// guest gets the synchronous external abort a bus gives natively for an
// address nothing decodes (for the guest there is no RAM at the carve-out)
// and carries on, and the board -- without a management network -- does
// not power off.
func TestCarveOutIsUnmapped(t *testing.T) {
	p := start(t, board(t, false, "guest.mode=shell"))
	_, i := expect(t, p, `^FERRY-GUEST: userspace up`, 0, bootTimeout)
	time.Sleep(2 * time.Second)
	i = guestAbort(t, p, 0x40200000, 1, i)
	i = guestAbort(t, p, holeIPA, 2, i)
	if err := p.Send("echo alive-$((6*7))\n"); err != nil {
		t.Fatal(err)
	}
	expect(t, p, `^alive-42`, i, 30*time.Second)
	for _, l := range p.Lines() {
		if strings.Contains(l.Text, "FATAL") {
			t.Fatalf("Ferry stopped: %s", l.Text)
		}
	}
}

// TestBootWithoutOptionalFeatures: Ferry needs neither FEAT_RNG (RNDR) nor
// pointer authentication; a Cortex-A72 has neither. Also a RAM size other
// than the default.
func TestBootWithoutOptionalFeatures(t *testing.T) {
	b := board(t, false, "guest.mode=counter")
	b.CPU, b.Memory = "cortex-a72", "2G"
	p := start(t, b)
	expect(t, p, `ferry: Go runtime: heap, goroutines and timers work`, 0, 30*time.Second)
	expect(t, p, `ferry: EL2, MIDR 0x410fd08\d, RAM \[\[0x40000000-0xc0000000\)\].* RNDR false`, 0, 30*time.Second)
	_, i := expect(t, p, `CPU: All CPU\(s\) started at EL1$`, 0, bootTimeout)
	expect(t, p, counter.String(), i, bootTimeout)
}

// TestGuestTrapLeavesBoardUp: a board on the management network whose
// guest takes a fault outside its RAM and devices stays up with its guest
// running, and the board's API counts the aborts given to the guest. (A
// trap Ferry cannot give back -- an access a device model cannot emulate,
// a fault on guest RAM -- still stops the guest with the board serving its
// API, but no shell command reaches one any more; hyp's
// TestUnexpectedTrapIsReported checks its report.)
func TestGuestTrapLeavesBoardUp(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "guest.mode=shell")
	_, i := expect(t, a, `^FERRY-GUEST: userspace up`, 0, bootTimeout)
	time.Sleep(2 * time.Second)
	i = guestAbort(t, a, holeIPA, 1, i)
	guestAbort(t, a, 0x40200000, 2, i)
	out, err := l.ferryctl("", "status", "10.77.0.11")
	if err != nil || !regexp.MustCompile(`guest +running`).MatchString(out) ||
		!regexp.MustCompile(`guest faults +2 external abort\(s\), 0 undefined .*newest: external abort: read at IPA 0x40200000`).MatchString(out) {
		t.Fatalf("status of the board after the guest's aborts: %v\n%s", err, out)
	}
}
