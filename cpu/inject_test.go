// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import "testing"

// TestTakeException gives a stopped guest an external abort from each
// place it can be taken (EL0 in AArch64 and AArch32, EL1 with SP_EL1 and
// with SP_EL0), for a load, a store and an instruction fetch, and checks
// every register the exception entry sets.
func TestTakeException(t *testing.T) {
	const (
		vbar = 0xffff800008010800
		far  = 0xfffff000
		pc   = 0x4c7ed8
	)
	cases := []struct {
		name   string
		esr2   uint64 // ESR_EL2 of the stage-2 abort
		pstate uint64 // the guest's PSTATE (SPSR_EL2)
		esr    uint64 // ESR_EL1 given
		vector uint64
	}{
		{"EL0 AArch64 load", 0x93830006, 0x60000000 | pstateEL0t, 0x92000010, VectorLower64},
		{"EL0 AArch64 store", 0x93830046, 0x60000000 | pstateEL0t, 0x92000050, VectorLower64},
		{"EL0 AArch64 fetch", 0x82000006, 0x20000000 | pstateEL0t, 0x82000010, VectorLower64},
		{"EL0 AArch32 load (T32, 16-bit)", 0x91830006, 0x80000030, 0x90000010, VectorLower32},
		{"EL0 AArch32 fetch", 0x82000006, 0x80000010, 0x82000010, VectorLower32},
		{"EL1h load", 0x93830006, 0x600003c5, 0x96000010, VectorCurrentSPx},
		{"EL1h store without a syndrome", 0x92000046, 0x5, 0x96000050, VectorCurrentSPx},
		{"EL1h fetch (the issue's trap)", 0x82000006, 0x3c5, 0x86000010, VectorCurrentSPx},
		{"EL1t load", 0x93830006, 0x4, 0x96000010, VectorCurrentSP0},
		{"EL1t fetch", 0x82000006, 0x4, 0x86000010, VectorCurrentSP0},
		{"load with FAR not valid", 0x92000406, 0x5, 0x96000410, VectorCurrentSPx},
		{"stage-1 walk that writes: no WnR", 0x920000c6, 0x5, 0x96000010, VectorCurrentSPx},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ctx := Context{PC: pc, PSTATE: c.pstate, ESR: c.esr2, FAR: far}
			r := EL1Regs{VBAR: vbar, SCTLR: SCTLR_SPAN, ESR: 1, FAR: 2, ELR: 3, SPSR: 4}
			esr := ExternalAbort(ESR(c.esr2), c.pstate)
			if esr != c.esr {
				t.Fatalf("ESR_EL1 %#x, want %#x", esr, c.esr)
			}
			TakeException(&ctx, &r, esr, far, true)
			if r.ESR != c.esr || r.FAR != far || r.ELR != pc || r.SPSR != c.pstate {
				t.Errorf("ESR_EL1 %#x FAR_EL1 %#x ELR_EL1 %#x SPSR_EL1 %#x, want %#x %#x %#x %#x",
					r.ESR, r.FAR, r.ELR, r.SPSR, c.esr, uint64(far), uint64(pc), c.pstate)
			}
			if ctx.PC != vbar+c.vector {
				t.Errorf("PC %#x, want VBAR_EL1+%#x", ctx.PC, c.vector)
			}
			if want := c.pstate&PSTATE_NZCV | SPSR_DAIF | SPSR_EL1h; ctx.PSTATE != want {
				t.Errorf("PSTATE %#x, want %#x (EL1h, DAIF masked, NZCV kept)", ctx.PSTATE, want)
			}
		})
	}
}

// TestTakeExceptionPSTATE: the PSTATE fields an exception entry changes
// (ARM ARM AArch64.TakeException), one by one.
func TestTakeExceptionPSTATE(t *testing.T) {
	const base = SPSR_DAIF | SPSR_EL1h
	cases := []struct {
		name   string
		old    uint64
		r      EL1Regs
		pstate uint64
	}{
		{"UAO, SS, IL, BTYPE cleared; DIT kept",
			PSTATE_UAO | PSTATE_SS | PSTATE_IL | PSTATE_BTYPE | PSTATE_DIT | pstateEL0t, EL1Regs{SCTLR: SCTLR_SPAN}, base | PSTATE_DIT},
		{"PAN set when SCTLR_EL1.SPAN is 0", pstateEL0t, EL1Regs{}, base | PSTATE_PAN},
		{"PAN kept when SPAN is 1", PSTATE_PAN | 0x5, EL1Regs{SCTLR: SCTLR_SPAN}, base | PSTATE_PAN},
		{"PAN stays clear when SPAN is 1", 0x5, EL1Regs{SCTLR: SCTLR_SPAN}, base},
		{"SSBS from SCTLR_EL1.DSSBS", 0x5, EL1Regs{SCTLR: SCTLR_SPAN | SCTLR_DSSBS}, base | PSTATE_SSBS},
		{"SSBS cleared without DSSBS", PSTATE_SSBS | 0x5, EL1Regs{SCTLR: SCTLR_SPAN}, base},
		{"TCO set with FEAT_MTE", 0x5, EL1Regs{SCTLR: SCTLR_SPAN, MTE: true}, base | PSTATE_TCO},
		{"no TCO without FEAT_MTE", PSTATE_TCO | 0x5, EL1Regs{SCTLR: SCTLR_SPAN}, base},
		{"ALLINT with FEAT_NMI and SPINTMASK 0", 0x5, EL1Regs{SCTLR: SCTLR_SPAN, NMI: true}, base | PSTATE_ALLINT},
		{"no ALLINT with SPINTMASK 1", 0x5, EL1Regs{SCTLR: SCTLR_SPAN | SCTLR_SPINTMASK, NMI: true}, base},
		{"no ALLINT without FEAT_NMI", 0x5, EL1Regs{SCTLR: SCTLR_SPAN}, base},
	}
	for _, c := range cases {
		ctx := Context{PSTATE: c.old}
		r := c.r
		TakeException(&ctx, &r, 0, 0, false)
		if ctx.PSTATE != c.pstate || r.SPSR != c.old {
			t.Errorf("%s: PSTATE %#x SPSR_EL1 %#x, want %#x %#x", c.name, ctx.PSTATE, r.SPSR, c.pstate, c.old)
		}
	}
}

func TestUndefined(t *testing.T) {
	ctx := Context{PC: 0x1000, PSTATE: 0x5}
	r := EL1Regs{VBAR: 0x8000, SCTLR: SCTLR_SPAN, FAR: 0x1234}
	esr := Undefined(ESR(ECSysReg<<26 | 1<<25 | 0x32c0a1))
	if esr != 0x02000000 {
		t.Fatalf("ESR_EL1 %#x, want EC 0 with IL", esr)
	}
	TakeException(&ctx, &r, esr, 0, false)
	if r.FAR != 0x1234 || r.ELR != 0x1000 || ctx.PC != 0x8200 {
		t.Fatalf("FAR_EL1 %#x (must stay), ELR_EL1 %#x, PC %#x", r.FAR, r.ELR, ctx.PC)
	}
	if Undefined(ESR(0)) != 0 {
		t.Fatal("a 16-bit instruction: IL clear")
	}
}
