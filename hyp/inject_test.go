// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/cpu"
)

// el1 is the guest's EL1 registers, in memory.
type el1 struct {
	cpu.EL1Regs
	writes int
}

func (e *el1) ReadEL1() cpu.EL1Regs   { return e.EL1Regs }
func (e *el1) WriteEL1(r cpu.EL1Regs) { e.EL1Regs = r; e.writes++ }

const testVBAR = 0xffff800008010800

// faultVCPU is a vCPU whose guest RAM is [0x48000000, 0x80000000) and
// whose only device model is the page at 0x9000000.
func faultVCPU(logs *[]string) (*VCPU, *el1) {
	e := &el1{EL1Regs: cpu.EL1Regs{VBAR: testVBAR, SCTLR: cpu.SCTLR_SPAN}}
	v := newVCPU(&firmware{}, logs)
	v.EL1 = e
	v.InRAM = func(ipa uint64) bool { return ipa >= 0x48000000 && ipa < 0x80000000 }
	v.MMIO = func(c *cpu.Context, esr cpu.ESR, ipa uint64) (bool, error) {
		if ipa>>12 != 0x9000 {
			return false, nil
		}
		c.Advance(esr)
		return true, nil
	}
	return v, e
}

func abortAt(v *VCPU, esr, ipa, va, pc, pstate uint64) error {
	v.Ctx.ESR, v.Ctx.FAR, v.Ctx.HPFAR, v.Ctx.PC, v.Ctx.PSTATE = esr, va, ipa>>12<<4, pc, pstate
	return v.Dispatch(cpu.ExitSync)
}

// TestOutsideRAMIsTheGuestsAbort: a stage-2 abort outside guest RAM that
// no model takes -- the instruction fetch, a read of a hole, a
// write to Ferry's carve-out -- becomes the guest's external abort, and it
// is counted and logged; the guest goes on.
func TestOutsideRAMIsTheGuestsAbort(t *testing.T) {
	cases := []struct {
		name                  string
		esr, ipa, va, pc, psr uint64
		esr1, vector          uint64
		kind                  string
	}{
		{"fetch from EL1h above RAM", 0x82000006, 0x80000000, 0xfffff000, 0xfffff000, 0x3c5, 0x86000010, 0x200, "instruction fetch"},
		{"read of a hole from EL0", 0x93830006, 0xb000000, 0xffff9570a000, 0x4c7ed8, 0x60000000, 0x92000010, 0x400, "read"},
		{"write to the carve-out from EL0 AArch32", 0x93830046, 0x40200000, 0xf7700000, 0x10b4, 0x80000010, 0x92000050, 0x600, "write"},
		{"read of the carve-out from EL1t", 0x93830006, 0x40200000, 0xffff000040200000, 0x1000, 0x4, 0x96000010, 0, "read"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var logs []string
			v, e := faultVCPU(&logs)
			if err := abortAt(v, c.esr, c.ipa, c.va, c.pc, c.psr); err != nil {
				t.Fatalf("the guest's fault stopped it: %v", err)
			}
			if e.writes != 1 || e.ESR != c.esr1 || e.FAR != c.va || e.ELR != c.pc || e.SPSR != c.psr {
				t.Fatalf("EL1 registers %+v after %d writes; want ESR_EL1 %#x FAR_EL1 %#x ELR_EL1 %#x SPSR_EL1 %#x",
					e.EL1Regs, e.writes, c.esr1, c.va, c.pc, c.psr)
			}
			if v.Ctx.PC != testVBAR+c.vector || v.Ctx.PSTATE&0x3cf != 0x3c5 {
				t.Fatalf("PC %#x PSTATE %#x: want VBAR_EL1+%#x at EL1h, masked", v.Ctx.PC, v.Ctx.PSTATE, c.vector)
			}
			f := v.Faults()
			if f.Aborts != 1 || f.Undefined != 0 || !strings.Contains(f.Last, c.kind) {
				t.Fatalf("faults %+v", f)
			}
			if len(logs) != 1 || !strings.Contains(logs[0], "guest fault 1: external abort: "+c.kind) {
				t.Fatalf("log %q", logs)
			}
		})
	}
}

// TestFaultsInRAMAndModels: a trapped device page is its model's, a fault
// in guest RAM is Ferry's own (it maps all of it) and still stops the
// guest, and so does one Ferry cannot give (no EL1 access).
func TestFaultsInRAMAndModels(t *testing.T) {
	var logs []string
	v, e := faultVCPU(&logs)
	if err := abortAt(v, 0x93830006, 0x9000000, 0x1000, 0x2000, 0x5); err != nil || v.Ctx.PC != 0x2004 || e.writes != 0 {
		t.Fatalf("a model's page: %v, PC %#x, %d EL1 writes", err, v.Ctx.PC, e.writes)
	}
	var te *TrapError
	if err := abortAt(v, 0x93830006, 0x50000000, 0x1000, 0x2000, 0x5); !errors.As(err, &te) || e.writes != 0 {
		t.Fatalf("a fault in guest RAM: %v, %d EL1 writes; want a TrapError", err, e.writes)
	}
	if err := abortAt(v, 0x82000006, 0x50000000, 0x1000, 0x2000, 0x5); !errors.As(err, &te) {
		t.Fatalf("a fetch fault in guest RAM: %v", err)
	}
	v.EL1 = nil
	if err := abortAt(v, 0x93830006, 0xb000000, 0x1000, 0x2000, 0x5); !errors.As(err, &te) {
		t.Fatalf("without EL1 access: %v", err)
	}
	if f := v.Faults(); f.Aborts != 0 {
		t.Fatalf("faults %+v", f)
	}
}

// TestUnhandledTrapIsUndefined: an exception class Ferry has no handler
// for, and a trapped system register it does not emulate, are the guest's
// undefined instructions, reported.
func TestUnhandledTrapIsUndefined(t *testing.T) {
	var logs []string
	v, e := faultVCPU(&logs)
	v.Ctx.ESR, v.Ctx.PC, v.Ctx.PSTATE = cpu.ECPAuth<<26|1<<25, 0x3000, 0x5
	if err := v.Dispatch(cpu.ExitSync); err != nil {
		t.Fatalf("unknown class: %v", err)
	}
	if e.ESR != 1<<25 || e.ELR != 0x3000 || v.Ctx.PC != testVBAR+0x200 {
		t.Fatalf("ESR_EL1 %#x ELR_EL1 %#x PC %#x", e.ESR, e.ELR, v.Ctx.PC)
	}
	// msr icc_sgi0r_el1, x1 (op0=3 op1=0 CRn=12 CRm=11 op2=7): not forwarded.
	v.Ctx.ESR, v.Ctx.PC, v.Ctx.PSTATE = cpu.ECSysReg<<26|1<<25|3<<20|7<<17|12<<10|1<<5|11<<1, 0x4000, 0x5
	if err := v.Dispatch(cpu.ExitSync); err != nil {
		t.Fatalf("unknown register: %v", err)
	}
	if f := v.Faults(); f.Undefined != 2 || f.Aborts != 0 || !strings.Contains(f.Last, "PC 0x4000") {
		t.Fatalf("faults %+v", f)
	}
	if len(logs) != 2 || !strings.Contains(logs[0], "undefined instruction") || !strings.Contains(logs[1], "MSR/MRS") {
		t.Fatalf("log %q", logs)
	}
}

// TestFaultLogIsBounded: a guest that faults in a loop gets a log line for
// its 1st, 2nd, 4th, 8th, ... fault, not one per fault.
func TestFaultLogIsBounded(t *testing.T) {
	var logs []string
	v, _ := faultVCPU(&logs)
	for range 1000 {
		if err := abortAt(v, 0x93830006, 0xb000000, 0x1000, 0x2000, 0x0); err != nil {
			t.Fatal(err)
		}
	}
	if f := v.Faults(); f.Aborts != 1000 || len(logs) != 10 || !strings.HasPrefix(logs[9], "guest fault 512:") {
		t.Fatalf("%d aborts, %d log lines, last %q", f.Aborts, len(logs), logs[len(logs)-1])
	}
}
