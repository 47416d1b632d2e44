// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

#include "textflag.h"
#include "../../cpu/sysreg_arm64.h"

// cpuinit is the image's first instruction (goos.CPUInit jumps here).
// U-Boot enters it as it would a kernel: at EL2, MMU and data cache off,
// x0 = the DTB's address. It keeps x0 for hwinit1 (dtbAddr), checks the
// exception level, stops FP/SIMD from trapping (Go uses those registers
// from the first function on), sets the boot stack at the top of Ferry's
// memory and starts the Go runtime.
TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·dtbAddr(SB), R1
	MOVD	R0, 0(R1)

	MRS	CurrentEL, R0
	LSR	$2, R0, R0
	AND	$3, R0, R0
	CMP	$2, R0
	BNE	wrongEL

	// CPTR_EL2: RES1 bits, TZ and TSM set (SVE and SME trapped until the
	// guest is configured), TFP clear.
	MOVD	$0x33ff, R0
	MSR_CPTR_EL2(0)
	ISB	$15

	MOVD	runtime∕goos·RamStart(SB), R1
	MOVD	R1, RSP
	MOVD	runtime∕goos·RamSize(SB), R1
	MOVD	runtime∕goos·RamStackOffset(SB), R2
	ADD	R1, RSP
	SUB	R2, RSP

	B	_rt0_tamago_start(SB)

wrongEL:
	// Not at EL2: say so on the default console (an i.MX UART: UTXD at
	// 0x40, UTS.TXFULL bit 4 at 0xb4) and stop.
	MOVD	$earlyUART<>(SB), R3
	MOVD	0(R3), R3
	MOVD	$msg<>(SB), R1
next:
	MOVBU.P	1(R1), R2
	CBZ	R2, stop
wait:
	MOVWU	0xb4(R3), R4	// UTS
	TBNZ	$4, R4, wait	// TXFULL
	MOVW	R2, 0x40(R3)	// UTXD
	B	next
stop:
	WFI
	B	stop

DATA earlyUART<>+0(SB)/8, $0x30890000
GLOBL earlyUART<>(SB), RODATA, $8
DATA msg<>+0(SB)/8, $"ferry: n"
DATA msg<>+8(SB)/8, $"ot enter"
DATA msg<>+16(SB)/8, $"ed at EL"
DATA msg<>+24(SB)/8, $"2, stopp"
DATA msg<>+32(SB)/8, $"ing\r\n\x00\x00\x00"
GLOBL msg<>(SB), RODATA, $40
