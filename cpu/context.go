// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

// Exit reasons: which EL2 vector took the guest's exception.
const (
	ExitSync   = 0 // synchronous exception from the guest (trap, abort, HVC, SMC)
	ExitIRQ    = 1 // physical IRQ routed to EL2 (HCR_EL2.IMO)
	ExitFIQ    = 2 // physical FIQ routed to EL2 (HCR_EL2.FMO)
	ExitSError = 3 // SError routed to EL2 (HCR_EL2.AMO)
)

// RegZR is register number 31 in an instruction's Rt field: XZR/WZR for a
// load or store's transfer register and for MSR/MRS (ARM ARM C1.2.5),
// which Context.X does not hold.
const RegZR = 31

// Context is the register block of the guest vCPU that the world switch
// (switch_arm64.s) loads before ERET and saves on every exit. It holds no
// pointers; the assembly names its fields through go_asm.h.
//
// What is here is what EL2 code can clobber: the general registers, the
// FP/SIMD registers (Ferry's Go code uses them), and ELR_EL2/SPSR_EL2. The
// guest's EL1 system registers are not touched by Ferry while it runs at EL2
// with HCR_EL2.E2H = 0, so they stay in the CPU across exits and are read
// only when the machine is captured for migration.
type Context struct {
	X      [31]uint64 // x0..x30
	PC     uint64     // ELR_EL2: where the guest resumes
	PSTATE uint64     // SPSR_EL2: the guest's PSTATE
	V      [64]uint64 // Q0..Q31, each as low then high 64 bits
	FPCR   uint64
	FPSR   uint64

	// Written on exit: the syndrome of a synchronous exception.
	ESR   uint64 // ESR_EL2
	FAR   uint64 // FAR_EL2
	HPFAR uint64 // HPFAR_EL2

	// The Go caller's RSP, g (R28), frame pointer (R29) and link register
	// (R30), restored on exit.
	host [4]uint64
}

// Advance moves the guest's PC past the instruction that trapped with
// syndrome e: 4 bytes, or 2 for a 16-bit T32 one (ESR.IL clear: an AArch32
// guest task).
func (c *Context) Advance(e ESR) {
	if e.IL() {
		c.PC += 4
	} else {
		c.PC += 2
	}
}
