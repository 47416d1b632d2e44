// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
)

// smcExit is the guest's SMC with function fid.
func smcExit(fid uint32) func(*fakeHW, *cpu.Context) uint64 {
	return func(h *fakeHW, c *cpu.Context) uint64 {
		c.ESR = cpu.ECSMC64<<26 | 1<<25
		c.X[0] = uint64(fid)
		return cpu.ExitSync
	}
}

// powerMachine is a test machine whose power calls are carried out, the
// CPU's reset recorded, and whose firmware counts the calls it gets.
func powerMachine(t *testing.T) (tm *testMachine, resets, fwCalls *int) {
	tm = newTestMachine(t, GuestRunning)
	resets, fwCalls = new(int), new(int)
	tm.onPower = func(p *PowerRequest) error {
		return tm.carryOut(p, func(*guest.Layout) error { *resets++; return nil })
	}
	tm.VCPU.Firmware = func([8]uint64) [4]uint64 { *fwCalls++; return [4]uint64{NotSupported} }
	return tm, resets, fwCalls
}

// A guest's SYSTEM_OFF, in the run loop: the firmware never hears of it;
// the guest is off -- its timers stopped, the interrupt Ferry acknowledged
// for it ended -- and Run returns ErrPoweredOff, the board's to carry on.
func TestRunGuestPowersOff(t *testing.T) {
	tm, resets, fw := powerMachine(t)
	const guestTimer = 27
	tm.hw.script = append(tm.hw.script, after(time.Millisecond, irqExit(guestTimer)), smcExit(PSCISystemOff))
	tm.start()
	tm.idle(t, 0)
	var err error
	select {
	case err = <-tm.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if !errors.Is(err, ErrPoweredOff) || tm.Ctl.State() != GuestOff || tm.Ctl.Power().Last != "SYSTEM_OFF" {
		t.Fatalf("Run: %v, state %v, power %+v", err, tm.Ctl.State(), tm.Ctl.Power())
	}
	if *fw != 0 || *resets != 0 {
		t.Fatalf("the firmware got %d calls, the CPU %d resets", *fw, *resets)
	}
	if tm.hw.timersOff == 0 || !slices.Contains(tm.vfake.Deactivated, guestTimer) {
		t.Fatalf("timers stopped %d times, deactivated %v: the guest's devices were not reset", tm.hw.timersOff, tm.vfake.Deactivated)
	}
	if !slices.ContainsFunc(tm.hw.log, func(s string) bool { return strings.Contains(s, "guest asked for SYSTEM_OFF: it is powered off") }) {
		t.Fatalf("log %q", tm.hw.log)
	}
}

// A guest's SYSTEM_RESET on a board whose guest RAM holds no boot stash
// (a guest booted by a Ferry that kept none): it cannot be booted again,
// so it stops, saying why, its devices reset and its CPU untouched.
func TestRunGuestResetWithoutStash(t *testing.T) {
	tm, resets, fw := powerMachine(t)
	tm.hw.script = append(tm.hw.script, smcExit(PSCISystemReset))
	tm.start()
	tm.idle(t, 0)
	var err error
	select {
	case err = <-tm.done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if !errors.Is(err, guest.ErrNoStash) || tm.Ctl.State() != GuestStopped || !strings.Contains(tm.Ctl.Why(), "SYSTEM_RESET") {
		t.Fatalf("Run: %v, state %v, why %q", err, tm.Ctl.State(), tm.Ctl.Why())
	}
	if *fw != 0 || *resets != 0 || tm.hw.timersOff == 0 || tm.Ctl.Power().Resets != 0 {
		t.Fatalf("firmware calls %d, CPU resets %d, timers stopped %d times, power %+v", *fw, *resets, tm.hw.timersOff, tm.Ctl.Power())
	}
}
