// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"math/bits"
	"sync/atomic"

	"github.com/ferry-hv/ferry/cpu"
)

// A guest's fault is the guest's: an access Ferry's stage 2 refuses outside
// guest RAM and every device model -- a hole in the memory map, Ferry's
// carve-out, a hidden device, an instruction fetch from a device -- is
// given back to the guest as the synchronous external abort a bus answers
// natively for an address nothing decodes (KVM does the same for an
// access outside its memory slots: kvm_inject_dabt/kvm_inject_pabt), and
// an instruction Ferry traps and does not emulate as an Undefined
// Instruction (KVM's answer to an exception class it does not know). The
// guest handles it as it would natively (Linux: SIGBUS or SIGILL to a
// process, an oops in the kernel) and goes on; Ferry counts it and logs
// the 1st, 2nd, 4th, 8th, ... of each kind.

// FaultKind is what Ferry gave the guest.
type FaultKind int

const (
	FaultAbort     FaultKind = iota // a synchronous external abort
	FaultUndefined                  // an Undefined Instruction exception
	numFaultKinds
)

// Faults are the exceptions Ferry gave the guest, for its status.
type Faults struct {
	Aborts    uint64 // external aborts, for accesses outside guest RAM and devices
	Undefined uint64 // undefined instructions, for traps Ferry does not emulate
	Last      string // the newest, decoded ("" if none)
}

// faultLog counts what was given; Faults may be read from any goroutine.
type faultLog struct {
	n    [numFaultKinds]atomic.Uint64
	last atomic.Pointer[string]
}

// Faults returns what Ferry gave the guest so far.
func (v *VCPU) Faults() Faults {
	f := Faults{Aborts: v.faults.n[FaultAbort].Load(), Undefined: v.faults.n[FaultUndefined].Load()}
	if p := v.faults.last.Load(); p != nil {
		f.Last = *p
	}
	return f
}

// give makes the guest take the exception with syndrome esr (FAR_EL1 far
// if setFAR) at EL1 and records it as kind, described by what. It reports
// false if Ferry cannot (no access to the guest's EL1 registers).
func (v *VCPU) give(kind FaultKind, esr, far uint64, setFAR bool, what string) bool {
	if v.EL1 == nil {
		return false
	}
	r := v.EL1.ReadEL1()
	from := cpu.Mode(v.Ctx.PSTATE)
	cpu.TakeException(&v.Ctx, &r, esr, far, setFAR)
	v.EL1.WriteEL1(r)
	n := v.faults.n[kind].Add(1)
	msg := fmt.Sprintf("%s, from %s; given to the guest as ESR_EL1 %#x at VBAR_EL1+%#x", what, from, esr, v.Ctx.PC-r.VBAR)
	v.faults.last.Store(&msg)
	if v.Log != nil && bits.OnesCount64(n) == 1 {
		v.Log(fmt.Sprintf("guest fault %d: %s", n, msg))
	}
	return true
}

// outsideRAM reports a stage-2 abort's IPA outside guest RAM. Ferry maps
// every page of guest RAM; an abort there is Ferry's, not the guest's.
func (v *VCPU) outsideRAM(ipa uint64) bool { return v.InRAM == nil || !v.InRAM(ipa) }

// externalAbort gives the guest the external abort for the stage-2 abort
// it took at ipa, if ipa is outside guest RAM.
func (v *VCPU) externalAbort(ipa uint64) bool {
	if !v.outsideRAM(ipa) {
		return false
	}
	esr := cpu.ESR(v.Ctx.ESR)
	kind := "instruction fetch"
	if esr.EC() == cpu.ECDAbortLow {
		kind = "read"
		if cpu.DecodeDataAbort(esr).Write {
			kind = "write"
		}
	}
	what := fmt.Sprintf("external abort: %s at IPA %#x (VA %#x, PC %#x) outside guest RAM and devices (%v)", kind, ipa, v.Ctx.FAR, v.Ctx.PC, esr)
	return v.give(FaultAbort, cpu.ExternalAbort(esr, v.Ctx.PSTATE), v.Ctx.FAR, true, what)
}

// undefined gives the guest an Undefined Instruction for the trap it took
// (one Ferry does not emulate).
func (v *VCPU) undefined() bool {
	esr := cpu.ESR(v.Ctx.ESR)
	what := fmt.Sprintf("undefined instruction: a trap Ferry does not emulate at PC %#x (%v)", v.Ctx.PC, esr)
	return v.give(FaultUndefined, cpu.Undefined(esr), 0, false, what)
}
