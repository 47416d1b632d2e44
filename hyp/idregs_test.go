// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"testing"

	"github.com/ferry-hv/ferry/cpu"
)

// sysRegESR is the syndrome of a trapped MRS (read) or MSR of the register
// (op0, op1, CRn, CRm, op2) with Rt rt.
func sysRegESR(op0, op1, crn, crm, op2 uint32, rt int, read bool) uint64 {
	e := uint64(cpu.ECSysReg)<<26 | 1<<25 | uint64(op0)<<20 | uint64(op2)<<17 | uint64(op1)<<14 |
		uint64(crn)<<10 | uint64(rt)<<5 | uint64(crm)<<1
	if read {
		e |= 1
	}
	return e
}

// TestIDRegisterReads: with TID3 the guest's reads of the ID space are
// answered from the guest's view -- MTE hidden in ID_AA64PFR1_EL1, an
// unlisted register zero -- the PC moves past the MRS, and nothing is
// given as a fault; a write there is undefined, as on the CPU. Without
// the view (nil), the same read is an undefined instruction: what the
// guest got before, at its first MTE register.
func TestIDRegisterReads(t *testing.T) {
	hw := map[string]uint64{"ID_AA64PFR0_EL1": 0x1101_0011, "ID_AA64PFR1_EL1": 0x221} // MTE 2, SSBS 2, BT 1
	ids := cpu.GuestIDs(func(n string) uint64 { return hw[n] })
	var logs []string
	v, _ := faultVCPU(&logs)
	v.IDs = ids
	read := func(crm, op2 uint32, rt int) uint64 {
		t.Helper()
		v.Ctx.ESR, v.Ctx.PC, v.Ctx.PSTATE = sysRegESR(3, 0, 0, crm, op2, rt, true), 0x1000, 0x5
		v.Ctx.X[rt&31] = 0xdead
		if err := v.Dispatch(cpu.ExitSync); err != nil {
			t.Fatal(err)
		}
		if v.Ctx.PC != 0x1004 {
			t.Fatalf("PC %#x after the MRS, want 0x1004", v.Ctx.PC)
		}
		return v.Ctx.X[rt&31]
	}
	if got := read(4, 1, 7); got != 0x021 {
		t.Errorf("ID_AA64PFR1_EL1 = %#x, want 0x21 (MTE hidden)", got)
	}
	if got := read(4, 2, 3); got != 0 {
		t.Errorf("ID_AA64PFR2_EL1 = %#x, want 0", got)
	}
	if f := v.Faults(); f.Undefined != 0 {
		t.Fatalf("faults %+v", f)
	}
	v.Ctx.ESR, v.Ctx.PC = sysRegESR(3, 0, 0, 4, 1, 2, false), 0x2000 // msr id_aa64pfr1_el1, x2
	if err := v.Dispatch(cpu.ExitSync); err != nil || v.Faults().Undefined != 1 {
		t.Fatalf("a write: %v, faults %+v", err, v.Faults())
	}
	v.IDs = nil
	v.Ctx.ESR, v.Ctx.PC, v.Ctx.PSTATE = sysRegESR(3, 0, 0, 4, 1, 7, true), 0x3000, 0x5
	if err := v.Dispatch(cpu.ExitSync); err != nil || v.Faults().Undefined != 2 {
		t.Fatalf("without a view: %v, faults %+v", err, v.Faults())
	}
}
