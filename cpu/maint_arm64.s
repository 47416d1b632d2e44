// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

// Cache and TLB maintenance, SMC, RNDR and the vector table's address: the
// instructions Go cannot express.

#include "go_asm.h"
#include "textflag.h"
#include "sysreg_arm64.h"

// func cleanDcacheRange(start, end, line uint64)
TEXT ·cleanDcacheRange(SB),NOSPLIT,$0-24
	MOVD	start+0(FP), R0
	MOVD	end+8(FP), R1
	MOVD	line+16(FP), R2
	SUB	$1, R2, R3
	BIC	R3, R0, R0
loop:
	DC_CVAC(0)
	ADD	R2, R0, R0
	CMP	R1, R0
	BLO	loop
	DSB	$15	// SY
	RET

// func cleanInvalidateDcacheRange(start, end, line uint64)
TEXT ·cleanInvalidateDcacheRange(SB),NOSPLIT,$0-24
	MOVD	start+0(FP), R0
	MOVD	end+8(FP), R1
	MOVD	line+16(FP), R2
	SUB	$1, R2, R3
	BIC	R3, R0, R0
loop:
	DC_CIVAC(0)
	ADD	R2, R0, R0
	CMP	R1, R0
	BLO	loop
	DSB	$15	// SY
	RET

// func fence()
TEXT ·fence(SB),NOSPLIT,$0
	DMB	$11	// ISH
	RET

// func dmaFence()
TEXT ·dmaFence(SB),NOSPLIT,$0
	DMB	$3	// OSH
	RET

// func invalidateIcache()
TEXT ·invalidateIcache(SB),NOSPLIT,$0
	DSB	$15
	IC_IALLU(31)
	DSB	$15
	ISB	$15
	RET

// func flushStage2()
TEXT ·flushStage2(SB),NOSPLIT,$0
	DSB	$10	// ISHST: table writes visible to the walker
	TLBI_VMALLS12E1IS(31)
	DSB	$11	// ISH
	ISB	$15
	RET

// func flushEL2()
TEXT ·flushEL2(SB),NOSPLIT,$0
	DSB	$15
	TLBI_ALLE2(31)
	DSB	$15
	ISB	$15
	RET

// func smc(a *[8]uint64)
// Issues SMC #0 with x0..x7 from a and stores x0..x3 back (SMCCC).
TEXT ·smc(SB),NOSPLIT,$0-8
	MOVD	a+0(FP), R8
	LDP	0(R8), (R0, R1)
	LDP	16(R8), (R2, R3)
	LDP	32(R8), (R4, R5)
	LDP	48(R8), (R6, R7)
	WORD	$0xd4000003	// smc #0
	MOVD	a+0(FP), R8
	STP	(R0, R1), 0(R8)
	STP	(R2, R3), 16(R8)
	RET

// func rndr() (v uint64, ok bool)
TEXT ·rndr(SB),NOSPLIT,$0-9
	MRS_RNDR(0)
	CSET	NE, R1	// RNDR sets Z on failure
	MOVD	R0, v+0(FP)
	MOVB	R1, ok+8(FP)
	RET

// func vectorBase() uint64
TEXT ·vectorBase(SB),NOSPLIT,$0-8
	MOVD	$·vectorTable(SB), R0
	MOVD	R0, ret+0(FP)
	RET

// func waitForEvent()
TEXT ·waitForEvent(SB),NOSPLIT,$0
	WFE
	RET

// func sendEvent()
TEXT ·sendEvent(SB),NOSPLIT,$0
	DSB	$11 // ISH
	SEV
	RET

// func waitForInterrupt()
TEXT ·waitForInterrupt(SB),NOSPLIT,$0
	WFI
	RET

// func invalidateIPA(ipa uint64)
// TLBI IPAS2E1IS takes IPA[51:12] in Xt[39:0] (TTL 0: any level).
TEXT ·invalidateIPA(SB),NOSPLIT,$0-8
	MOVD	ipa+0(FP), R0
	LSR	$12, R0, R0
	DSB	$10	// ISHST: the descriptor write is visible to the walker
	TLBI_IPAS2E1IS(0)
	DSB	$11	// ISH
	RET

// func flushGuestStage1()
// After stage-2-only invalidations: the combined stage 1+2 entries go too.
TEXT ·flushGuestStage1(SB),NOSPLIT,$0
	TLBI_VMALLE1IS(31)
	DSB	$11	// ISH
	ISB	$15
	RET

// func invalidateGuestVA(va uint64)
// TLBI VAAE1IS takes VA[55:12] in Xt[43:0]: the guest's entries for one
// page, any ASID, stage 1+2 combined ones included.
TEXT ·invalidateGuestVA(SB),NOSPLIT,$0-8
	MOVD	va+0(FP), R0
	LSR	$12, R0, R0
	AND	$0xfffffffffff, R0, R0
	TLBI_VAAE1IS(0)
	DSB	$11	// ISH
	ISB	$15
	RET
