// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

// The world switch and the EL2 exception vectors.
//
// enter(c) saves what the Go caller needs back (RSP, g, R29, R30 -- Go's
// ABI0 treats every other register as clobbered by a call), loads the guest's
// FP/SIMD registers, FPCR/FPSR, ELR_EL2 and SPSR_EL2 (each system
// register only where it differs), sets SP_EL2 to c, loads x0..x30 and
// ERETs. TPIDR_EL2 is the CPU's index (boot/el2's procID), not touched.
//
// While the guest runs SP_EL2 is the Context pointer, so an exception from
// the guest finds its context in RSP without needing a scratch register: the
// lower-EL vector stores x0/x1 at c.X[0..1], puts the exit reason in x0 and
// branches to the common exit, which stores x2..x30, ELR/SPSR/ESR/FAR/HPFAR
// and the FP/SIMD state, restores the caller's RSP, g, R29 and R30 and
// returns the reason as enter's result.
//
// Exceptions taken from EL2 itself (a bug in Ferry) go to hypFault, which
// prints the syndrome and stops the machine.

#include "go_asm.h"
#include "textflag.h"
#include "sysreg_arm64.h"

// func enter(c *Context) uint64
TEXT ·enter(SB),NOSPLIT|NOFRAME,$0-16
	// The result is written by the exit path (guestExit), which returns
	// for enter; clear it here so it is never stale.
	MOVD	ZR, ret+8(FP)
	MOVD	c+0(FP), R0
	MOVD	RSP, R1
	MOVD	R1, (Context_host+0)(R0)
	MOVD	g, (Context_host+8)(R0)
	MOVD	R29, (Context_host+16)(R0)
	MOVD	R30, (Context_host+24)(R0)

	ADD	$Context_V, R0, R1
	VLD1.P	64(R1), [V0.D2, V1.D2, V2.D2, V3.D2]
	VLD1.P	64(R1), [V4.D2, V5.D2, V6.D2, V7.D2]
	VLD1.P	64(R1), [V8.D2, V9.D2, V10.D2, V11.D2]
	VLD1.P	64(R1), [V12.D2, V13.D2, V14.D2, V15.D2]
	VLD1.P	64(R1), [V16.D2, V17.D2, V18.D2, V19.D2]
	VLD1.P	64(R1), [V20.D2, V21.D2, V22.D2, V23.D2]
	VLD1.P	64(R1), [V24.D2, V25.D2, V26.D2, V27.D2]
	VLD1.P	64(R1), [V28.D2, V29.D2, V30.D2, V31.D2]
	// Each system register is written only if it changed: under TCG a
	// write ends the translation block and rebuilds the CPU's cached
	// state, a cost per world switch the guest's interrupts pay on
	// their path (docs/bench/README.md). Reads do not. After an exit
	// ELR_EL2 and SPSR_EL2 still hold what the exception and the last
	// entry left there, and Ferry's Go code leaves FPCR and usually FPSR
	// alone.
	MOVD	Context_FPCR(R0), R2
	MRS	FPCR, R3
	CMP	R2, R3
	BEQ	2(PC)
	MSR	R2, FPCR
	MOVD	Context_FPSR(R0), R2
	MRS	FPSR, R3
	CMP	R2, R3
	BEQ	2(PC)
	MSR	R2, FPSR

	MOVD	Context_PC(R0), R2
	MRS_ELR_EL2(3)
	CMP	R2, R3
	BEQ	2(PC)
	MSR_ELR_EL2(2)
	MOVD	Context_PSTATE(R0), R2
	MRS_SPSR_EL2(3)
	CMP	R2, R3
	BEQ	2(PC)
	MSR_SPSR_EL2(2)
	MOVD	R0, RSP

	LDP	(Context_X+16)(R0), (R2, R3)
	LDP	(Context_X+32)(R0), (R4, R5)
	LDP	(Context_X+48)(R0), (R6, R7)
	LDP	(Context_X+64)(R0), (R8, R9)
	LDP	(Context_X+80)(R0), (R10, R11)
	LDP	(Context_X+96)(R0), (R12, R13)
	LDP	(Context_X+112)(R0), (R14, R15)
	LDP	(Context_X+128)(R0), (R16, R17)
	LDP	(Context_X+144)(R0), (R18_PLATFORM, R19)
	LDP	(Context_X+160)(R0), (R20, R21)
	LDP	(Context_X+176)(R0), (R22, R23)
	LDP	(Context_X+192)(R0), (R24, R25)
	LDP	(Context_X+208)(R0), (R26, R27)
	LDP	(Context_X+224)(R0), (g, R29)
	MOVD	(Context_X+240)(R0), R30
	LDP	(Context_X+0)(R0), (R0, R1)
	ERET

// Lower-EL vector entry: save x0/x1 into the Context (RSP), set the reason,
// go to the common exit.
#define GUEST_EXIT(reason) \
	STP	(R0, R1), (Context_X+0)(RSP); \
	MOVD	$reason, R0; \
	B	guestExit; \
	PCALIGN	$128

// EL2-from-EL2 vector entry.
#define HYP_FAULT(kind) \
	MOVD	$kind, R0; \
	B	·hypFaultEntry(SB); \
	PCALIGN	$128

// ARM ARM D1.10.2 "Exception vectors": 16 entries of 0x80 bytes, the table
// 2 KiB aligned.
TEXT ·vectorTable(SB),NOSPLIT|NOFRAME,$0
	PCALIGN	$2048
	// current EL with SP_EL0
	HYP_FAULT(0)
	HYP_FAULT(1)
	HYP_FAULT(2)
	HYP_FAULT(3)
	// current EL with SP_ELx
	HYP_FAULT(4)
	HYP_FAULT(5)
	HYP_FAULT(6)
	HYP_FAULT(7)
	// lower EL, AArch64
	GUEST_EXIT(const_ExitSync)
	GUEST_EXIT(const_ExitIRQ)
	GUEST_EXIT(const_ExitFIQ)
	GUEST_EXIT(const_ExitSError)
	// lower EL, AArch32 (a 32-bit EL0 process under the guest kernel)
	GUEST_EXIT(const_ExitSync)
	GUEST_EXIT(const_ExitIRQ)
	GUEST_EXIT(const_ExitFIQ)
	GUEST_EXIT(const_ExitSError)

guestExit:
	STP	(R2, R3), (Context_X+16)(RSP)
	STP	(R4, R5), (Context_X+32)(RSP)
	STP	(R6, R7), (Context_X+48)(RSP)
	STP	(R8, R9), (Context_X+64)(RSP)
	STP	(R10, R11), (Context_X+80)(RSP)
	STP	(R12, R13), (Context_X+96)(RSP)
	STP	(R14, R15), (Context_X+112)(RSP)
	STP	(R16, R17), (Context_X+128)(RSP)
	STP	(R18_PLATFORM, R19), (Context_X+144)(RSP)
	STP	(R20, R21), (Context_X+160)(RSP)
	STP	(R22, R23), (Context_X+176)(RSP)
	STP	(R24, R25), (Context_X+192)(RSP)
	STP	(R26, R27), (Context_X+208)(RSP)
	STP	(g, R29), (Context_X+224)(RSP)
	MOVD	R30, (Context_X+240)(RSP)

	MOVD	RSP, R1
	MRS_ELR_EL2(2)
	MOVD	R2, Context_PC(R1)
	MRS_SPSR_EL2(2)
	MOVD	R2, Context_PSTATE(R1)
	MRS_ESR_EL2(2)
	MOVD	R2, Context_ESR(R1)
	MRS_FAR_EL2(2)
	MOVD	R2, Context_FAR(R1)
	MRS_HPFAR_EL2(2)
	MOVD	R2, Context_HPFAR(R1)

	ADD	$Context_V, R1, R2
	VST1.P	[V0.D2, V1.D2, V2.D2, V3.D2], 64(R2)
	VST1.P	[V4.D2, V5.D2, V6.D2, V7.D2], 64(R2)
	VST1.P	[V8.D2, V9.D2, V10.D2, V11.D2], 64(R2)
	VST1.P	[V12.D2, V13.D2, V14.D2, V15.D2], 64(R2)
	VST1.P	[V16.D2, V17.D2, V18.D2, V19.D2], 64(R2)
	VST1.P	[V20.D2, V21.D2, V22.D2, V23.D2], 64(R2)
	VST1.P	[V24.D2, V25.D2, V26.D2, V27.D2], 64(R2)
	VST1.P	[V28.D2, V29.D2, V30.D2, V31.D2], 64(R2)
	MRS	FPCR, R2
	MOVD	R2, Context_FPCR(R1)
	MRS	FPSR, R2
	MOVD	R2, Context_FPSR(R1)

	MOVD	(Context_host+0)(R1), R2
	MOVD	R2, RSP
	MOVD	(Context_host+8)(R1), g
	MOVD	(Context_host+16)(R1), R29
	MOVD	(Context_host+24)(R1), R30
	// enter's result slot: ret+8(FP) of a NOFRAME function is 16(RSP)
	MOVD	R0, 16(RSP)
	RET

// hypFaultEntry reports an exception Ferry took at EL2 and never returns.
TEXT ·hypFaultEntry(SB),NOSPLIT|NOFRAME,$0
	MRS_ESR_EL2(1)
	MRS_ELR_EL2(2)
	MRS_FAR_EL2(3)
	SUB	$48, RSP
	MOVD	R0, 8(RSP)
	MOVD	R1, 16(RSP)
	MOVD	R2, 24(RSP)
	MOVD	R3, 32(RSP)
	MOVD	R30, 40(RSP) // the link register: who branched, if ELR_EL2 is garbage
	CALL	·hypFault(SB)
halt:
	WFI
	B	halt
