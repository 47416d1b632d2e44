// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/cpu"
)

// The guest's SYSTEM_OFF, SYSTEM_RESET and warm SYSTEM_RESET2 never reach
// the firmware (which would stop or restart the whole board, Ferry and
// its migration ledger with it): the vCPU hands each to the run loop as a
// PowerRequest, the guest's PC still at its SMC (it does not return from
// the call). A SYSTEM_RESET2 of a type Ferry does not serve is refused and
// the guest goes on.
func TestGuestPowerCalls(t *testing.T) {
	cases := []struct {
		name string
		fid  uint32
		x1   uint64
		want *PowerRequest // nil: answered with x0
		x0   uint64
	}{
		{"SYSTEM_OFF", PSCISystemOff, 0, &PowerRequest{PowerOff, "SYSTEM_OFF"}, 0},
		{"SYSTEM_RESET", PSCISystemReset, 0, &PowerRequest{PowerReset, "SYSTEM_RESET"}, 0},
		{"SYSTEM_RESET2 warm", PSCISystemReset2_64, resetWarm, &PowerRequest{PowerReset, "SYSTEM_RESET2 (warm)"}, 0},
		{"SYSTEM_RESET2 warm, SMC32 (only W1 is the type)", PSCISystemReset2_32, 0xdead_0000_0000, &PowerRequest{PowerReset, "SYSTEM_RESET2 (warm)"}, 0},
		{"SYSTEM_RESET2 of a vendor's type", PSCISystemReset2_64, resetTypeVendor | 1, nil, PSCIInvalidParams},
		{"SYSTEM_RESET2 of a reserved type", PSCISystemReset2_64, 5, nil, PSCIInvalidParams},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newTFA(t)
			fi := ProbeFirmware(f.call)
			n := len(f.calls)
			var logs []string
			v := &VCPU{MPIDR: 0x80000000, Firmware: f.call, FirmwareInfo: fi, Log: func(s string) { logs = append(logs, s) }}
			v.Ctx.PC = 0x1000
			err := trapSMC(v, uint64(c.fid), c.x1)
			if calls := f.calls[n:]; len(calls) != 0 {
				t.Fatalf("the firmware got %#x", calls)
			}
			if c.want == nil {
				if err != nil || v.Ctx.X[0] != c.x0 || v.Ctx.PC != 0x1004 {
					t.Fatalf("err %v, x0 %#x, PC %#x: want it answered %#x past the SMC", err, v.Ctx.X[0], v.Ctx.PC, c.x0)
				}
				return
			}
			var p *PowerRequest
			if !errors.As(err, &p) || *p != *c.want {
				t.Fatalf("Dispatch returned %v, want %+v", err, c.want)
			}
			if v.Ctx.PC != 0x1000 {
				t.Fatalf("PC %#x: a call the guest does not return from leaves it at the SMC", v.Ctx.PC)
			}
		})
	}
}

// PSCI_FEATURES says Ferry serves SYSTEM_OFF and SYSTEM_RESET without
// asking the firmware, and SYSTEM_RESET2 when the PSCI version the guest
// sees (the firmware's) has it: 1.1 and later.
func TestPowerFeatures(t *testing.T) {
	for _, c := range []struct {
		psci uint64
		fid  uint32
		x0   uint64
	}{
		{0x10001, PSCISystemOff, PSCISuccess},
		{0x10001, PSCISystemReset, PSCISuccess},
		{0x10001, PSCISystemReset2_64, PSCISuccess},
		{0x10001, PSCISystemReset2_32, PSCISuccess},
		{0x10000, PSCISystemReset2_64, NotSupported},
		{0x10000, PSCISystemOff, PSCISuccess},
	} {
		f := newTFA(t)
		f.psci = c.psci
		fi := ProbeFirmware(f.call)
		x0, calls := callGuest(t, f, fi, PSCIFeatures, uint64(c.fid))
		if x0 != c.x0 || len(calls) != 0 {
			t.Errorf("PSCI %#x, PSCI_FEATURES(%#x) = %#x after %d firmware calls, want %#x and none", c.psci, c.fid, x0, len(calls), c.x0)
		}
	}
}

// A guest that powered itself off is "off": a migration's pause refuses
// it, saying so; a restart is counted; the log says what the guest did.
func TestControlPower(t *testing.T) {
	c := NewControl(GuestRunning)
	at := time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)
	if s := c.Power().String(); s != "" {
		t.Fatalf("no power call yet: %q", s)
	}
	c.Restarted("SYSTEM_RESET", at)
	c.Restarted("SYSTEM_RESET2 (warm)", at.Add(time.Minute))
	if p := c.Power(); p.Resets != 2 || p.Last != "SYSTEM_RESET2 (warm)" || !p.At.Equal(at.Add(time.Minute)) || c.State() != GuestRunning {
		t.Fatalf("after two restarts: %+v, %v", p, c.State())
	}
	if s := c.Power().String(); s != "reset 2 times (last: SYSTEM_RESET2 (warm))" {
		t.Fatalf("%q", s)
	}
	c.PoweredOff("SYSTEM_OFF", at.Add(2*time.Minute))
	if c.State() != GuestOff || c.State().String() != "off" {
		t.Fatalf("state %v after SYSTEM_OFF", c.State())
	}
	if p := c.Power(); p.Resets != 2 || p.Last != "SYSTEM_OFF" {
		t.Fatalf("%+v", p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := c.Pause(ctx); !errors.Is(err, ErrNoGuest) || !strings.Contains(err.Error(), "off") {
		t.Fatalf("Pause of a guest that is off: %v", err)
	}
	if s := (PowerLog{Resets: 1, Last: "SYSTEM_RESET"}).String(); s != "reset 1 time (last: SYSTEM_RESET)" {
		t.Fatalf("%q", s)
	}
}

// The CPU a restarted guest starts on is the CPU a power-on leaves: none
// of the old guest's registers, keys, breakpoints or watchpoints left, MMU
// and caches off, the OS lock locked; its features and identity, and the
// shape of its optional state, kept.
func TestPowerOnState(t *testing.T) {
	old := &cpu.State{
		Features: cpu.FeatPAuth | cpu.FeatSVE,
		SysRegs:  make([]uint64, len(cpu.SysRegNames)),
		PAuth:    make([]uint64, len(cpu.PAuthKeyNames)),
		ZCR:      3, SVEVL: 32, SVEPred: make([]byte, cpu.SVEPredSlots*32/8),
		MIDR: 0x410fd083, MPIDR: 0x80000000,
		Debug: cpu.Debug{BVR: []uint64{1, 2}, BCR: []uint64{3, 4}, WVR: []uint64{5}, WCR: []uint64{6}, MDCCINT: 1, OSDLR: 1},
	}
	for i := range old.SysRegs {
		old.SysRegs[i] = 0xbad0 + uint64(i)
	}
	for i := range old.PAuth {
		old.PAuth[i] = 0x1234
	}
	old.SVEPred[3] = 9
	old.Ctx.X[0], old.Ctx.X[30], old.Ctx.PC, old.Ctx.V[5], old.Ctx.FPCR = 1, 2, 0xffff800008000000, 7, 1<<24
	old.Ctx.PSTATE = 0x3c5 &^ cpu.SPSR_DAIF

	s := powerOn(old)
	if s.Features != old.Features || s.MIDR != old.MIDR || s.MPIDR != old.MPIDR || s.SVEVL != old.SVEVL {
		t.Fatalf("identity or features changed: %+v", s)
	}
	if s.Ctx.PSTATE != cpu.SPSR_EL1h|cpu.SPSR_DAIF || s.Ctx.PC != 0 || s.Ctx.X != [31]uint64{} || s.Ctx.V != [64]uint64{} || s.Ctx.FPCR != 0 {
		t.Fatalf("register block %+v", s.Ctx)
	}
	for i, n := range cpu.SysRegNames {
		want := uint64(0)
		if n == "SCTLR_EL1" {
			want = cpu.SCTLR_EL1Reset
		}
		if s.SysRegs[i] != want {
			t.Errorf("%s = %#x, want %#x", n, s.SysRegs[i], want)
		}
	}
	if len(s.PAuth) != len(old.PAuth) || s.PAuth[0] != 0 || len(s.SVEPred) != len(old.SVEPred) || s.SVEPred[3] != 0 || s.ZCR != 0 {
		t.Fatalf("keys %v, predicates %v, ZCR %#x", s.PAuth, s.SVEPred, s.ZCR)
	}
	d := s.Debug
	if len(d.BVR) != 2 || len(d.BCR) != 2 || len(d.WVR) != 1 || len(d.WCR) != 1 || d.BCR[0] != 0 || d.WCR[0] != 0 || d.MDCCINT != 0 || d.OSDLR != 0 || !d.OSLK {
		t.Fatalf("debug state %+v", d)
	}
	// It is a state Restore's checks accept (it decodes as one).
	if _, err := cpu.DecodeState(cpu.StateVersion, s.Encode()); err != nil {
		t.Fatal(err)
	}
	if s := powerOn(&cpu.State{SysRegs: make([]uint64, len(cpu.SysRegNames))}); s.PAuth != nil || s.SVEPred != nil {
		t.Fatalf("a CPU without pointer authentication or SVE got their state: %+v", s)
	}
}
