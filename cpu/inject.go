// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

// Giving the guest an exception: Ferry makes the guest, stopped at an exit,
// take a synchronous exception at EL1 as the CPU would have taken it there
// (the ARM ARM's AArch64.TakeException; KVM's enter_exception64 in
// arch/arm64/kvm/hyp/exception.c does the same). What changes is the
// register block (PC, PSTATE) and the guest's EL1 exception registers,
// which are live in the CPU while Ferry runs at EL2 (Context's comment):
// EL1Regs is their value, read and written by the arm64 side (LiveEL1).

// Offsets of the synchronous entries in the EL1 vector table from VBAR_EL1
// (ARM ARM D1.3.1 "Exception vectors", the vector offsets from the vector
// table base address).
const (
	VectorCurrentSP0 = 0x000 // from EL1 using SP_EL0 (EL1t)
	VectorCurrentSPx = 0x200 // from EL1 using SP_EL1 (EL1h)
	VectorLower64    = 0x400 // from EL0 in AArch64
	VectorLower32    = 0x600 // from EL0 in AArch32
)

// PSTATE as SPSR_EL1 holds it for AArch64 (ARM ARM C5.2.18 SPSR_EL1): the
// fields an exception entry sets, clears or keeps.
const (
	PSTATE_NZCV   = 0xf << 28
	PSTATE_TCO    = 1 << 25 // FEAT_MTE: tag checks off; set on entry
	PSTATE_DIT    = 1 << 24 // kept
	PSTATE_UAO    = 1 << 23 // cleared
	PSTATE_PAN    = 1 << 22 // set unless SCTLR_EL1.SPAN
	PSTATE_SS     = 1 << 21 // cleared
	PSTATE_IL     = 1 << 20 // cleared
	PSTATE_ALLINT = 1 << 13 // FEAT_NMI: NOT SCTLR_EL1.SPINTMASK on entry
	PSTATE_SSBS   = 1 << 12 // SCTLR_EL1.DSSBS on entry
	PSTATE_BTYPE  = 3 << 10 // cleared
)

// SCTLR_EL1 fields an exception entry reads (ARM ARM D23.2 SCTLR_EL1).
const (
	SCTLR_SPAN      = 1 << 23 // 0: PSTATE.PAN set on entry (RES1 without FEAT_PAN)
	SCTLR_DSSBS     = 1 << 44 // PSTATE.SSBS on entry (RES0 without FEAT_SSBS)
	SCTLR_SPINTMASK = 1 << 62 // FEAT_NMI: 0: PSTATE.ALLINT set on entry
)

// ESR_ELx fields Ferry builds (ARM ARM D23.2 ESR_EL1).
const (
	ESR_ECShift = 26
	ESR_IL      = 1 << 25
	ESR_FnV     = 1 << issFnV
	ESR_WnR     = 1 << issWnR
	// FSCSyncExternal is a synchronous external abort, not on a
	// translation table walk: what the bus answers for an address
	// nothing decodes.
	FSCSyncExternal = 0x10
)

// ID_AA64PFR1_EL1 fields of features that change exception entry.
const (
	PFR1_MTE_Shift = 8  // ID_AA64PFR1_EL1.MTE
	PFR1_NMI_Shift = 36 // ID_AA64PFR1_EL1.NMI
)

// EL1Regs are the guest's EL1 registers an exception entry reads (VBAR,
// SCTLR) and writes (ESR, FAR, ELR, SPSR), and the CPU's features that
// change it.
type EL1Regs struct {
	VBAR, SCTLR         uint64
	ESR, FAR, ELR, SPSR uint64
	MTE, NMI            bool // FEAT_MTE (PSTATE.TCO), FEAT_NMI (PSTATE.ALLINT)
}

// EL1Access reads and writes a stopped guest's EL1Regs (LiveEL1 on the
// board, a plain value in tests).
type EL1Access interface {
	ReadEL1() EL1Regs
	WriteEL1(EL1Regs)
}

// fromLower reports an exception taken from EL0 (AArch64 EL0t or AArch32
// User): the guest's EL1 sees it come from a lower level.
func fromLower(pstate uint64) bool {
	return pstate&pstateNRW != 0 || pstate&pstateMode == pstateEL0t
}

// vectorOffset is the synchronous vector for an exception to EL1h taken
// from pstate.
func vectorOffset(pstate uint64) uint64 {
	switch {
	case pstate&pstateNRW != 0:
		return VectorLower32
	case pstate&pstateMode == pstateEL0t:
		return VectorLower64
	case pstate&pstateMode == pstateEL1t:
		return VectorCurrentSP0
	}
	return VectorCurrentSPx
}

// ExternalAbort is the ESR_EL1 of a synchronous external abort the guest
// takes for the stage-2 abort with syndrome esr2 (EC 0x20 or 0x24, from
// ESR_EL2) taken from pstate: an instruction or data abort from the same or
// a lower level, IL as trapped, for a store WnR, FnV as trapped, FSC 0x10
// (KVM's inject_abt64 builds the same, without WnR and FnV).
func ExternalAbort(esr2 ESR, pstate uint64) uint64 {
	ec := uint64(ECIAbortCur)
	if esr2.EC() == ECDAbortLow {
		ec = ECDAbortCur
	}
	if fromLower(pstate) {
		ec-- // the lower-level class is one below the same-level one
	}
	esr := ec<<ESR_ECShift | FSCSyncExternal
	if esr2.IL() {
		esr |= ESR_IL
	}
	if esr2.EC() == ECDAbortLow {
		d := DecodeDataAbort(esr2)
		if d.Write && !d.S1PTW {
			esr |= ESR_WnR
		}
		if !d.FARValid {
			esr |= ESR_FnV
		}
	}
	return esr
}

// Undefined is the ESR_EL1 of an Undefined Instruction exception (EC 0,
// "unknown reason") for the instruction that trapped with esr2: what the
// guest takes for an instruction Ferry traps and does not emulate (KVM's
// inject_undef64).
func Undefined(esr2 ESR) uint64 {
	if esr2.IL() {
		return ECUnknown<<ESR_ECShift | ESR_IL
	}
	return ECUnknown << ESR_ECShift
}

// TakeException makes the guest stopped with c take a synchronous
// exception with syndrome esr at EL1h, FAR_EL1 far if setFAR: ELR_EL1 is
// the PC, SPSR_EL1 the PSTATE, and PSTATE becomes what an exception entry
// makes it (D, A, I and F masked; NZCV and DIT kept; UAO, SS, IL and BTYPE
// cleared; PAN set unless SCTLR_EL1.SPAN; SSBS from SCTLR_EL1.DSSBS; TCO
// set with FEAT_MTE; ALLINT from SCTLR_EL1.SPINTMASK with FEAT_NMI), and
// the PC the vector for where it was taken from (the AArch32 EL0 bits
// kept sit where AArch64's do: SPSR_EL2's AArch32 layout puts N, Z, C, V,
// DIT and PAN at the same positions).
func TakeException(c *Context, r *EL1Regs, esr, far uint64, setFAR bool) {
	old := c.PSTATE
	r.ESR = esr
	if setFAR {
		r.FAR = far
	}
	r.ELR = c.PC
	r.SPSR = old

	pstate := old&(PSTATE_NZCV|PSTATE_DIT|PSTATE_PAN) | SPSR_DAIF | SPSR_EL1h
	if r.SCTLR&SCTLR_SPAN == 0 {
		pstate |= PSTATE_PAN
	}
	if r.SCTLR&SCTLR_DSSBS != 0 {
		pstate |= PSTATE_SSBS
	}
	if r.MTE {
		pstate |= PSTATE_TCO
	}
	if r.NMI && r.SCTLR&SCTLR_SPINTMASK == 0 {
		pstate |= PSTATE_ALLINT
	}
	c.PSTATE = pstate
	c.PC = r.VBAR + vectorOffset(old)
}
