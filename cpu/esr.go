// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import "fmt"

// Exception classes, ESR_ELx.EC (ARM ARM D23.2 ESR_EL2, Table D23-... "ESR_ELx.EC").
const (
	ECUnknown     = 0x00 // unknown reason
	ECWFx         = 0x01 // WFI or WFE
	ECFPAccess    = 0x07 // SVE, SIMD or floating point access trapped by CPTR_EL2/CPACR
	ECIllegalExec = 0x0e // illegal execution state
	ECSVC64       = 0x15 // SVC in AArch64
	ECHVC64       = 0x16 // HVC in AArch64
	ECSMC64       = 0x17 // SMC in AArch64 (trapped by HCR_EL2.TSC)
	ECSysReg      = 0x18 // MSR, MRS or system instruction in AArch64
	ECSVE         = 0x19 // SVE access trapped by CPTR_EL2.TZ
	ECPAuth       = 0x09 // pointer authentication trapped by HCR_EL2.API/APK
	ECSME         = 0x1d // SME access trapped by CPTR_EL2.TSM
	ECIAbortLow   = 0x20 // instruction abort from a lower exception level
	ECIAbortCur   = 0x21 // instruction abort from the same exception level
	ECPCAlign     = 0x22 // PC alignment fault
	ECDAbortLow   = 0x24 // data abort from a lower exception level
	ECDAbortCur   = 0x25 // data abort from the same exception level
	ECSPAlign     = 0x26 // SP alignment fault
	ECFP64        = 0x2c // trapped floating-point exception
	ECSError      = 0x2f // SError interrupt
	ECBrkLow      = 0x30 // breakpoint from a lower exception level
	ECStepLow     = 0x32 // software step from a lower exception level
	ECWatchLow    = 0x34 // watchpoint from a lower exception level
	ECBRK64       = 0x3c // BRK instruction in AArch64
)

var ecNames = map[uint32]string{
	ECUnknown: "unknown reason", ECWFx: "WFI/WFE", ECFPAccess: "FP/SIMD access",
	ECIllegalExec: "illegal execution state", ECSVC64: "SVC (AArch64)",
	ECHVC64: "HVC (AArch64)", ECSMC64: "SMC (AArch64)", ECSysReg: "MSR/MRS/system instruction",
	ECSVE: "SVE access", ECPAuth: "pointer authentication", ECSME: "SME access",
	ECIAbortLow: "instruction abort from lower EL", ECIAbortCur: "instruction abort from EL2",
	ECPCAlign: "PC alignment fault", ECDAbortLow: "data abort from lower EL",
	ECDAbortCur: "data abort from EL2", ECSPAlign: "SP alignment fault",
	ECFP64: "floating-point exception", ECSError: "SError", ECBrkLow: "breakpoint from lower EL",
	ECStepLow: "software step from lower EL", ECWatchLow: "watchpoint from lower EL", ECBRK64: "BRK (AArch64)",
}

// ESR is a decoded exception syndrome (ARM ARM D23.2 ESR_EL2).
type ESR uint64

// EC is the exception class, ESR[31:26].
func (e ESR) EC() uint32 { return uint32(e>>26) & 0x3f }

// IL reports a 32-bit trapped instruction, ESR[25].
func (e ESR) IL() bool { return e>>25&1 == 1 }

// ISS is the instruction-specific syndrome, ESR[24:0].
func (e ESR) ISS() uint32 { return uint32(e) & 0x1ffffff }

// ECName is a human-readable name for the exception class.
func (e ESR) ECName() string {
	if n, ok := ecNames[e.EC()]; ok {
		return n
	}
	return "reserved"
}

func (e ESR) String() string {
	return fmt.Sprintf("ESR %#x (EC %#x %s, IL %v, ISS %#x)", uint64(e), e.EC(), e.ECName(), e.IL(), e.ISS())
}

// Imm16 is the immediate of a trapped HVC or SMC, ISS[15:0].
func (e ESR) Imm16() uint16 { return uint16(e) }

// Data-abort ISS fields (ARM ARM D23.2 ESR_EL2, "ISS encoding for an
// exception from a Data Abort").
const (
	issISV   = 24 // syndrome valid: SAS, SSE, SRT, SF, AR hold
	issSAS   = 22 // access size, 2 bits
	issSSE   = 21 // sign extend
	issSRT   = 16 // register transferred, 5 bits
	issSF    = 15 // 64-bit register
	issFnV   = 10 // FAR not valid
	issS1PTW = 7  // stage-2 fault on a stage-1 table walk
	issWnR   = 6  // write not read
	issDFSC  = 0  // fault status code, 6 bits
)

// Fault status codes, DFSC/IFSC (ARM ARM D23.2, ESR_EL2 ISS).
const (
	FSCTranslationL0 = 0x04 // translation fault, level 0 (+1, +2, +3 for levels 1-3)
	FSCAccessFlagL0  = 0x08 // access flag fault, level 0..3
	FSCPermissionL0  = 0x0c // permission fault, level 0..3
)

// DataAbort is a data abort syndrome decoded once, before any device model
// or dirty-tracking code sees it.
type DataAbort struct {
	Valid    bool   // ISV: the fields below describe a single load/store
	Size     int    // access size in bytes: 1, 2, 4 or 8
	SignExt  bool   // load is sign-extended
	Reg      int    // general register transferred, 0..30, or 31 for XZR/WZR
	Reg64    bool   // the register is 64 bits wide (else 32)
	Write    bool   // a store
	S1PTW    bool   // fault on a stage-1 translation table walk
	FARValid bool   // FAR holds the faulting virtual address
	FSC      uint32 // fault status code
}

// DecodeDataAbort decodes the ISS of an EC 0x24/0x25 syndrome.
func DecodeDataAbort(e ESR) DataAbort {
	iss := e.ISS()
	return DataAbort{
		Valid:    iss>>issISV&1 == 1,
		Size:     1 << (iss >> issSAS & 3),
		SignExt:  iss>>issSSE&1 == 1,
		Reg:      int(iss >> issSRT & 31),
		Reg64:    iss>>issSF&1 == 1,
		Write:    iss>>issWnR&1 == 1,
		S1PTW:    iss>>issS1PTW&1 == 1,
		FARValid: iss>>issFnV&1 == 0,
		FSC:      iss >> issDFSC & 0x3f,
	}
}

// IsPermissionFault reports a permission fault at any level.
func (d DataAbort) IsPermissionFault() bool { return d.FSC&^3 == FSCPermissionL0 }

// SysRegAccess is a trapped MSR/MRS (EC 0x18) decoded (ARM ARM D23.2,
// "ISS encoding for an exception from MSR, MRS, or System instruction").
type SysRegAccess struct {
	Op0, Op1, CRn, CRm, Op2 uint32
	Reg                     int  // Rt
	Read                    bool // MRS (direction bit set)
}

// DecodeSysReg decodes the ISS of an EC 0x18 syndrome.
func DecodeSysReg(e ESR) SysRegAccess {
	iss := e.ISS()
	return SysRegAccess{
		Op0:  iss >> 20 & 3,
		Op2:  iss >> 17 & 7,
		Op1:  iss >> 14 & 7,
		CRn:  iss >> 10 & 15,
		Reg:  int(iss >> 5 & 31),
		CRm:  iss >> 1 & 15,
		Read: iss&1 == 1,
	}
}

// HPFARToIPA turns HPFAR_EL2 and the page offset of FAR_EL2 into the
// faulting intermediate physical address (HPFAR_EL2.FIPA holds IPA[47:12]
// in bits [39:4]).
func HPFARToIPA(hpfar, far uint64) uint64 {
	return (hpfar>>4&0xfffffffff)<<12 | far&0xfff
}
