// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"testing"

	"github.com/ferry-hv/ferry/cpu"
)

// The guest's CPU_SUSPEND is Ferry's, whatever the state it asks for and
// on every board: the firmware never gets it -- forwarded, a power-down
// state would have TF-A wake the core at the guest's entry point at the
// caller's exception level, EL2: the guest's code with Ferry's privilege
// -- the CPU waits in Standby, as at the guest's WFI, and the guest gets
// SUCCESS after its SMC, its registers past the results as they were (a
// power-down request served as a standby, PSCI DEN 0022 5.4.2, as KVM and
// Xen serve it).
func TestCPUSuspendServedByFerry(t *testing.T) {
	const entry, contextID = 0x4820_1000, 0xc0ffee
	states := []struct {
		name  string
		fid   uint32
		state uint64
	}{
		// The i.MX8M boards' cpu-pd-wait idle state (imx8mm-evk.dtb's
		// arm,psci-suspend-param, original format: StateType bit 16,
		// power-down).
		{"the i.MX8M's idle state: power-down", PSCICPUSuspend64, 0x0010033},
		{"power-down, extended format (StateType bit 30)", PSCICPUSuspend64, 1<<30 | 0x33},
		{"standby", PSCICPUSuspend64, 0},
		{"SMC32 power-down", PSCICPUSuspend32, 0x0010033},
		{"a state no firmware has", PSCICPUSuspend64, 0xffff_ffff},
	}
	boards := []struct {
		name string
		tfa  func(t *testing.T) *tfa
	}{
		{"TF-A (the EVK)", newTFA},
		{"QEMU's PSCI (virt)", func(t *testing.T) *tfa { f := newTFA(t); f.smccc = 0; return f }},
	}
	for _, b := range boards {
		for _, s := range states {
			t.Run(b.name+"/"+s.name, func(t *testing.T) {
				f := b.tfa(t)
				fi := ProbeFirmware(f.call)
				n := len(f.calls)
				standby := 0
				v := &VCPU{MPIDR: 0x80000000, Firmware: f.call, FirmwareInfo: fi, Standby: func() { standby++ }}
				v.Ctx.PC = 0x1000
				v.Ctx.ESR = cpu.ECSMC64<<26 | 1<<25
				v.Ctx.X[0], v.Ctx.X[1], v.Ctx.X[2], v.Ctx.X[3] = uint64(s.fid), s.state, entry, contextID
				v.Ctx.X[4] = 0x4444
				if err := v.Dispatch(cpu.ExitSync); err != nil {
					t.Fatal(err)
				}
				for _, c := range f.calls[n:] {
					t.Errorf("the firmware got %#x: the guest's CPU_SUSPEND must never reach it", c[:4])
				}
				if standby != 1 {
					t.Errorf("Standby called %d times, want once", standby)
				}
				if v.Ctx.X[0] != PSCISuccess || v.Ctx.PC != 0x1004 {
					t.Errorf("x0 %#x at PC %#x, want SUCCESS after the SMC at 0x1004", v.Ctx.X[0], v.Ctx.PC)
				}
				if v.Ctx.X[4] != 0x4444 {
					t.Errorf("x4 %#x: the guest's registers past the results changed", v.Ctx.X[4])
				}
			})
		}
	}

	// Without a Standby hook (nothing to wait with) the suspend ends at
	// once: a standby may end early, and the firmware still gets nothing.
	f := newTFA(t)
	x0, calls := callGuest(t, f, ProbeFirmware(f.call), PSCICPUSuspend64, 0x0010033)
	if x0 != PSCISuccess || len(calls) != 0 {
		t.Errorf("CPU_SUSPEND without Standby: x0 %#x, firmware calls %#x", x0, calls)
	}
}

// PSCI_FEATURES(CPU_SUSPEND) carries the firmware's power-state format
// (bit 1: the guest's DTB writes its idle states in it) and never
// OS-initiated mode (bit 0): Ferry does not serve SET_SUSPEND_MODE. A
// firmware without CPU_SUSPEND, or with PSCI 0.2 (no PSCI_FEATURES), gets
// the original format: Ferry serves the call all the same.
func TestCPUSuspendFeatures(t *testing.T) {
	for _, c := range []struct {
		name     string
		psci     uint64
		firmware uint64 // the firmware's PSCI_FEATURES(CPU_SUSPEND)
		want     uint64
	}{
		{"extended format", 0x10001, 2, 2},
		{"original format", 0x10001, 0, 0},
		{"extended format and OS-initiated mode", 0x10001, 3, 2},
		{"OS-initiated mode, original format", 0x10001, 1, 0},
		{"the firmware has no CPU_SUSPEND", 0x10001, NotSupported, 0},
		{"PSCI 0.2: no PSCI_FEATURES to ask", 2, 2, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newTFA(t)
			f.psci = c.psci
			f.features[PSCICPUSuspend64] = c.firmware
			fi := ProbeFirmware(f.call)
			if x0, _ := callGuest(t, f, fi, PSCIFeatures, PSCICPUSuspend64); x0 != c.want {
				t.Errorf("PSCI_FEATURES(CPU_SUSPEND) = %#x, want %#x", x0, c.want)
			}
		})
	}
}
