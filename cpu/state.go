// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import (
	"fmt"

	"github.com/ferry-hv/ferry/internal/wire"
)

// StateVersion is the version of State's encoding this package writes;
// it reads every version from StateOldest. Version 2 dropped the version
// the payload carried (the migration record's is the one) and moved the
// timer to its own component (TimerVersion).
const (
	StateVersion = 2
	StateOldest  = 2
)

// TimerVersion is the version of Timer's encoding this package writes; it
// reads every version from TimerOldest.
const (
	TimerVersion = 1
	TimerOldest  = 1
)

// PSTATE (SPSR_EL2 as the guest's exit saved it) fields, ARM ARM C5.2.19
// SPSR_EL2: M[4] is the Execution state the exception was taken from,
// M[3:0] the mode.
const (
	pstateNRW      = 1 << 4 // M[4]: taken from AArch32
	pstateMode     = 0xf    // M[3:0]
	pstateEL0t     = 0b0000 // AArch64 EL0
	pstateEL1t     = 0b0100 // AArch64 EL1 with SP_EL0
	pstateUser32   = 0b0000 // AArch32 User mode (M = 0b10000): EL0
	pstateAArch32M = pstateNRW | pstateMode
)

// SVE predicate state: P0..P15 and FFR, each VL/8 bytes, VL at most
// 2048 bits (ARM ARM A2 "The Scalable Vector Extension").
const (
	SVEPredSlots = 17
	MaxSVEVL     = 256 // bytes
)

// Features says which optional register sets a CPU has, and so which are
// in a State.
type Features uint32

const (
	FeatPAuth Features = 1 << iota // pointer-authentication keys
	FeatSVE                        // ZCR_EL1
	FeatSME                        // SMCR_EL1
)

// SysRegNames lists, in encoding order, the EL1 (and EL0) system registers
// a State carries for every guest: the set KVM_GET_REG_LIST returns for a
// Linux guest without SVE/SME/MTE, minus the ID and debug registers (see
// docs/state.md).
var SysRegNames = []string{
	"SCTLR_EL1", "ACTLR_EL1", "CPACR_EL1", "TTBR0_EL1", "TTBR1_EL1", "TCR_EL1",
	"ESR_EL1", "FAR_EL1", "AFSR0_EL1", "AFSR1_EL1", "PAR_EL1", "MAIR_EL1",
	"AMAIR_EL1", "VBAR_EL1", "CONTEXTIDR_EL1", "TPIDR_EL1", "TPIDR_EL0",
	"TPIDRRO_EL0", "CSSELR_EL1", "MDSCR_EL1", "ELR_EL1", "SPSR_EL1", "SP_EL0",
	"SP_EL1", "CNTKCTL_EL1",
}

// PAuthKeyNames are the pointer-authentication keys, carried when the CPU
// has FEAT_PAuth: a kernel that signs its return addresses dies on the
// first return with the wrong keys.
var PAuthKeyNames = []string{
	"APIAKeyLo_EL1", "APIAKeyHi_EL1", "APIBKeyLo_EL1", "APIBKeyHi_EL1",
	"APDAKeyLo_EL1", "APDAKeyHi_EL1", "APDBKeyLo_EL1", "APDBKeyHi_EL1",
	"APGAKeyLo_EL1", "APGAKeyHi_EL1",
}

// Timer is the guest's generic-timer state, a migratable component of
// its own. The guest's virtual count is
// carried rather than CNTVOFF_EL2, because the boards' physical counters
// are unrelated: the destination picks CNTVOFF_EL2 so that the virtual
// count resumes where it stopped.
type Timer struct {
	VirtCount uint64 // CNTVCT_EL0 as the guest saw it when stopped
	CNTV_CTL  uint64
	CNTV_CVAL uint64
	CNTP_CTL  uint64
	// CNTP_CVAL relative to the physical count at the stop, so that a
	// pending physical timer fires after the same interval on the
	// destination.
	CNTP_Delta uint64
}

// State is everything of the guest's CPU Ferry moves but its timer: the
// register block of the world switch, the EL1 system registers, the
// optional register sets of Features and the identity the guest sees
// (VPIDR/VMPIDR).
//
// The guest's EL0 may run AArch32 (a 32-bit process under a 64-bit
// kernel): its R0-R14 are then X0-X14 of the register block, its CPSR is
// PSTATE, and its TPIDRURO/TPIDRURW and FPSCR are TPIDRRO_EL0, TPIDR_EL0
// and FPCR/FPSR, all of which are carried.
type State struct {
	Ctx      Context
	Features Features
	SysRegs  []uint64 // in SysRegNames order
	PAuth    []uint64 // in PAuthKeyNames order, when FeatPAuth
	ZCR      uint64   // when FeatSVE
	SVEVL    uint32   // when FeatSVE: the vector length in bytes the predicates were saved at
	SVEPred  []byte   // when FeatSVE: P0..P15 then FFR, SVEVL/8 bytes each
	SMCR     uint64   // when FeatSME
	MIDR     uint64   // VPIDR_EL2
	MPIDR    uint64   // VMPIDR_EL2
}

// Encode returns the encoding of s (version StateVersion).
func (s *State) Encode() []byte {
	var w wire.Writer
	w.U32(uint32(s.Features))
	for _, x := range s.Ctx.X {
		w.U64(x)
	}
	w.U64(s.Ctx.PC)
	w.U64(s.Ctx.PSTATE)
	for _, v := range s.Ctx.V {
		w.U64(v)
	}
	w.U64(s.Ctx.FPCR)
	w.U64(s.Ctx.FPSR)
	w.U64s(s.SysRegs)
	w.U64s(s.PAuth)
	w.U64(s.ZCR)
	w.U32(s.SVEVL)
	w.Blob(s.SVEPred)
	w.U64(s.SMCR)
	w.U64(s.MIDR)
	w.U64(s.MPIDR)
	return w.Bytes()
}

// DecodeState decodes and checks an encoded State of a version from
// StateOldest to StateVersion.
func DecodeState(version uint16, b []byte) (*State, error) {
	if version < StateOldest || version > StateVersion {
		return nil, fmt.Errorf("cpu state: version %d; this Ferry reads %d to %d", version, StateOldest, StateVersion)
	}
	r := wire.NewReader(b)
	s := &State{Features: Features(r.U32())}
	for i := range s.Ctx.X {
		s.Ctx.X[i] = r.U64()
	}
	s.Ctx.PC = r.U64()
	s.Ctx.PSTATE = r.U64()
	for i := range s.Ctx.V {
		s.Ctx.V[i] = r.U64()
	}
	s.Ctx.FPCR = r.U64()
	s.Ctx.FPSR = r.U64()
	s.SysRegs = r.U64s(len(SysRegNames))
	s.PAuth = r.U64s(len(PAuthKeyNames))
	s.ZCR = r.U64()
	s.SVEVL = r.U32()
	s.SVEPred = r.Blob(SVEPredSlots * MaxSVEVL / 8)
	s.SMCR = r.U64()
	s.MIDR = r.U64()
	s.MPIDR = r.U64()
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("cpu state: %w", err)
	}
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// validate checks what a State must satisfy to be loaded into a CPU.
func (s *State) validate() error {
	switch {
	case s.Features&^(FeatPAuth|FeatSVE|FeatSME) != 0:
		return fmt.Errorf("cpu state: unknown features %#x", uint32(s.Features))
	case len(s.SysRegs) != len(SysRegNames):
		return fmt.Errorf("cpu state: %d system registers, want %d", len(s.SysRegs), len(SysRegNames))
	case s.Features&FeatPAuth != 0 && len(s.PAuth) != len(PAuthKeyNames):
		return fmt.Errorf("cpu state: %d pointer-authentication keys, want %d", len(s.PAuth), len(PAuthKeyNames))
	case s.Features&FeatPAuth == 0 && len(s.PAuth) != 0:
		return fmt.Errorf("cpu state: pointer-authentication keys without the feature")
	case s.Features&FeatSVE != 0 && (s.SVEVL == 0 || s.SVEVL%16 != 0 || s.SVEVL > MaxSVEVL ||
		len(s.SVEPred) != SVEPredSlots*int(s.SVEVL)/8):
		return fmt.Errorf("cpu state: SVE vector length %d with %d bytes of predicates", s.SVEVL, len(s.SVEPred))
	case s.Features&FeatSVE == 0 && (s.SVEVL != 0 || len(s.SVEPred) != 0):
		return fmt.Errorf("cpu state: SVE predicates without the feature")
	case s.Ctx.PSTATE&pstateNRW != 0 && s.Ctx.PSTATE&pstateMode != pstateUser32:
		return fmt.Errorf("cpu state: PSTATE %#x is an AArch32 mode other than User (%#x); Ferry guests run AArch64 at EL1", s.Ctx.PSTATE, s.Ctx.PSTATE&pstateAArch32M)
	case s.Ctx.PSTATE&pstateNRW == 0 && s.Ctx.PSTATE&pstateMode != SPSR_EL1h && s.Ctx.PSTATE&pstateMode != pstateEL1t && s.Ctx.PSTATE&pstateMode != pstateEL0t:
		return fmt.Errorf("cpu state: PSTATE %#x: mode %#x is not EL0t, EL1t or EL1h", s.Ctx.PSTATE, s.Ctx.PSTATE&pstateMode)
	}
	return nil
}

// Mode names the Execution state and mode a PSTATE (SPSR_EL2) was taken
// from: "AArch64 EL1h", "AArch64 EL0t", "AArch32 User", ...
func Mode(pstate uint64) string {
	if pstate&pstateNRW != 0 {
		if pstate&pstateMode == pstateUser32 {
			return "AArch32 User"
		}
		return fmt.Sprintf("AArch32 mode %#x", pstate&pstateAArch32M)
	}
	switch pstate & pstateMode {
	case pstateEL0t:
		return "AArch64 EL0t"
	case pstateEL1t:
		return "AArch64 EL1t"
	case SPSR_EL1h:
		return "AArch64 EL1h"
	}
	return fmt.Sprintf("AArch64 mode %#x", pstate&pstateMode)
}

// Encode returns the encoding of t (version TimerVersion).
func (t Timer) Encode() []byte {
	var w wire.Writer
	for _, v := range []uint64{t.VirtCount, t.CNTV_CTL, t.CNTV_CVAL, t.CNTP_CTL, t.CNTP_Delta} {
		w.U64(v)
	}
	return w.Bytes()
}

// DecodeTimer decodes an encoded Timer of a version from TimerOldest to
// TimerVersion.
func DecodeTimer(version uint16, b []byte) (Timer, error) {
	var t Timer
	if version < TimerOldest || version > TimerVersion {
		return t, fmt.Errorf("timer state: version %d; this Ferry reads %d to %d", version, TimerOldest, TimerVersion)
	}
	r := wire.NewReader(b)
	for _, p := range []*uint64{&t.VirtCount, &t.CNTV_CTL, &t.CNTV_CVAL, &t.CNTP_CTL, &t.CNTP_Delta} {
		*p = r.U64()
	}
	if err := r.Done(); err != nil {
		return Timer{}, fmt.Errorf("timer state: %w", err)
	}
	return t, nil
}
