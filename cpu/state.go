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
// timer to its own component (TimerVersion); version 3 added the guest's
// self-hosted debug state (Debug). A version 2 state decodes with a zero
// Debug: no breakpoint or watchpoint set and the OS lock unlocked, as a
// Linux guest leaves them after its boot.
const (
	StateVersion = 3
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

// MaxBreakpoints is the most breakpoints, and the most watchpoints, a CPU
// has (ID_AA64DFR0_EL1.BRPs and WRPs are 4-bit counts less one; more than
// 16 need FEAT_Debugv8p9, hidden from the guest).
const MaxBreakpoints = 16

// OSLSR_EL1 and OSLAR_EL1 fields (ARM ARM D23.3 OSLSR_EL1, OSLAR_EL1).
const (
	OSLSR_OSLK = 1 << 1 // OSLSR_EL1.OSLK: the OS lock is locked
	OSLAR_OSLK = 1 << 0 // OSLAR_EL1.OSLK: lock (1) or unlock (0) it
)

// Debug is the guest's self-hosted debug state (ARM ARM D2, "AArch64
// Self-hosted Debug"), what gdb, perf and kgdb set: the breakpoint and
// watchpoint registers of every one the CPU has, the OS lock (a locked one
// disables them all, and a CPU comes out of reset locked), the OS double
// lock with FEAT_DoubleLock and the DCC interrupt enable. MDSCR_EL1, which
// enables them, is one of SysRegNames. MDCR_EL2 traps none of these
// registers: the guest's accesses are the CPU's. (The claim tags,
// DBGCLAIMSET/CLR_EL1, are left out: they coordinate with an external
// debugger, Linux does not use them, and QEMU 7.2 does not implement them,
// so reading them at EL2 there would stop Ferry.)
type Debug struct {
	BVR, BCR []uint64 // DBGBVR<n>_EL1, DBGBCR<n>_EL1, n < the CPU's breakpoints
	WVR, WCR []uint64 // DBGWVR<n>_EL1, DBGWCR<n>_EL1, n < its watchpoints
	MDCCINT  uint64   // MDCCINT_EL1
	OSDLR    uint64   // OSDLR_EL1, with FEAT_DoubleLock
	OSLK     bool     // OSLSR_EL1.OSLK
}

// RegWrite is one system-register write of a restore, by name.
type RegWrite struct {
	Name  string
	Value uint64
}

// DebugReadNames are the breakpoint and watchpoint registers a capture
// reads on a CPU with brps breakpoints and wrps watchpoints: DBGBVR<n>,
// DBGBCR<n> for each breakpoint, then DBGWVR<n>, DBGWCR<n> for each
// watchpoint (SetDebugRegs takes their values in this order).
func DebugReadNames(brps, wrps int) []string {
	var names []string
	for n := range brps {
		names = append(names, fmt.Sprintf("DBGBVR%d_EL1", n), fmt.Sprintf("DBGBCR%d_EL1", n))
	}
	for n := range wrps {
		names = append(names, fmt.Sprintf("DBGWVR%d_EL1", n), fmt.Sprintf("DBGWCR%d_EL1", n))
	}
	return names
}

// SetDebugRegs fills d's breakpoints and watchpoints from the values of
// DebugReadNames(brps, wrps), in its order.
func (d *Debug) SetDebugRegs(brps, wrps int, v []uint64) {
	d.BVR, d.BCR, d.WVR, d.WCR = nil, nil, nil, nil
	for n := range brps {
		d.BVR, d.BCR = append(d.BVR, v[2*n]), append(d.BCR, v[2*n+1])
	}
	for n := range wrps {
		d.WVR, d.WCR = append(d.WVR, v[2*brps+2*n]), append(d.WCR, v[2*brps+2*n+1])
	}
}

// DebugWrites returns the writes that load d into a CPU with brps
// breakpoints and wrps watchpoints (and FEAT_DoubleLock if doubleLock), in
// order: every breakpoint and watchpoint the CPU has (zero past d's, so
// that nothing another guest left there fires), the DCC enable, the double
// lock, and the OS lock last. A
// CPU with fewer breakpoints or watchpoints than d is an error.
func (d *Debug) DebugWrites(brps, wrps int, doubleLock bool) ([]RegWrite, error) {
	if len(d.BVR) > brps || len(d.WVR) > wrps {
		return nil, fmt.Errorf("cpu state: %d breakpoints and %d watchpoints; this CPU has %d and %d", len(d.BVR), len(d.WVR), brps, wrps)
	}
	at := func(v []uint64, n int) uint64 {
		if n < len(v) {
			return v[n]
		}
		return 0
	}
	var w []RegWrite
	for n := range brps {
		w = append(w, RegWrite{fmt.Sprintf("DBGBVR%d_EL1", n), at(d.BVR, n)}, RegWrite{fmt.Sprintf("DBGBCR%d_EL1", n), at(d.BCR, n)})
	}
	for n := range wrps {
		w = append(w, RegWrite{fmt.Sprintf("DBGWVR%d_EL1", n), at(d.WVR, n)}, RegWrite{fmt.Sprintf("DBGWCR%d_EL1", n), at(d.WCR, n)})
	}
	w = append(w, RegWrite{"MDCCINT_EL1", d.MDCCINT})
	if doubleLock {
		w = append(w, RegWrite{"OSDLR_EL1", d.OSDLR})
	}
	var oslk uint64
	if d.OSLK {
		oslk = OSLAR_OSLK
	}
	return append(w, RegWrite{"OSLAR_EL1", oslk}), nil
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

// MPIDRAffinity masks MPIDR_EL1's affinity fields, Aff3 and Aff2..Aff0
// (ARM ARM D23.2 MPIDR_EL1): what tells one CPU from another.
const MPIDRAffinity = 0xff00ffffff

// State is everything of the guest's CPU Ferry moves but its timer: the
// register block of the world switch, the EL1 system registers, the
// optional register sets of Features, the identity the guest sees
// (VPIDR/VMPIDR) and its self-hosted debug state.
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
	MPIDR    uint64   // VMPIDR_EL2 (its affinity: MPIDRAffinity)
	Debug    Debug    // from version 3
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
	d := &s.Debug
	for _, v := range [][]uint64{d.BVR, d.BCR, d.WVR, d.WCR} {
		w.U64s(v)
	}
	w.U64(d.MDCCINT)
	w.U64(d.OSDLR)
	if d.OSLK {
		w.U8(1)
	} else {
		w.U8(0)
	}
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
	if version >= 3 {
		d := &s.Debug
		for _, p := range []*[]uint64{&d.BVR, &d.BCR, &d.WVR, &d.WCR} {
			if *p = r.U64s(MaxBreakpoints); len(*p) == 0 {
				*p = nil
			}
		}
		d.MDCCINT = r.U64()
		d.OSDLR = r.U64()
		switch r.U8() {
		case 0:
		case 1:
			d.OSLK = true
		default:
			r.Fail(fmt.Errorf("OS lock neither locked nor unlocked"))
		}
	}
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
	case len(s.Debug.BVR) != len(s.Debug.BCR) || len(s.Debug.WVR) != len(s.Debug.WCR):
		return fmt.Errorf("cpu state: %d breakpoint values for %d controls, %d watchpoint values for %d controls",
			len(s.Debug.BVR), len(s.Debug.BCR), len(s.Debug.WVR), len(s.Debug.WCR))
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
