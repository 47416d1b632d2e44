// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

#include "go_asm.h"
#include "textflag.h"
#include "../../cpu/sysreg_arm64.h"

// el2entry is Ferry's entry on every board: the board's cpuinit (its
// entry_arm64.s; TamaGo's _rt0_arm64_tamago leads there through
// goos.CPUInit) branches here with x0 as the loader left it and R1 = the
// board's Facts, taken relative to the PC. The loader enters as it enters
// a Linux kernel (Documentation/arch/arm64/booting.rst): at EL2, MMU and
// data cache off, x0 = the DTB's physical address (0 from QEMU's ELF
// loader, which leaves the DTB at Facts.DTBIfNoX0). It checks, each
// failure stopping with a line on the board's console at its default
// address:
//   - the exception level (EL2);
//   - that it runs where it was linked (TamaGo links at a fixed address;
//     the Image's flags ask for DRAM base + text_offset);
//   - that the DTB does not lie where Ferry's heap and stack go (from the
//     end of its bss to the top of the carve-out), which the runtime
//     overwrites before the DTB is read;
// then clears its bss (a loader of a flat image does not; QEMU's ELF
// loader does), keeps x0 (X0) and the board's facts for the runtime hooks,
// stops FP/SIMD from trapping (Go uses those registers from the first
// function on), sets the boot stack at the top of Ferry's memory and
// starts the Go runtime.
TEXT el2entry(SB),NOSPLIT|NOFRAME,$0
	MOVD	R0, R19
	MOVD	R1, R20

	MRS	CurrentEL, R0
	LSR	$2, R0, R0
	AND	$3, R0, R0
	MOVD	$msgEL<>(SB), R1
	CMP	$2, R0
	BNE	fail

	// Where el2entry runs (MOVD $sym is PC-relative: ADRP+ADD) against
	// where it was linked (an absolute address in linked<>).
	MOVD	$el2entry(SB), R0
	MOVD	$linked<>(SB), R2
	MOVD	0(R2), R2
	MOVD	$msgPlace<>(SB), R1
	CMP	R2, R0
	BNE	fail

	MOVD	$runtime·end(SB), R2
	MOVD	runtime∕goos·RamStart(SB), R3
	MOVD	runtime∕goos·RamSize(SB), R4
	ADD	R3, R4
	MOVD	$msgDTB<>(SB), R1
	CMP	R2, R19
	BLO	dtbOK
	CMP	R4, R19
	BLO	fail
dtbOK:

	// Bss: [runtime.bss, runtime.end), both 16-byte aligned.
	MOVD	$runtime·bss(SB), R0
	MOVD	$runtime·end(SB), R2
clear:
	CMP	R2, R0
	BHS	cleared
	STP.P	(ZR, ZR), 16(R0)
	B	clear
cleared:
	MOVD	$·x0(SB), R1
	MOVD	R19, 0(R1)
	MOVD	$·facts(SB), R1
	MOVD	R20, 0(R1)

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

fail:
	// Say why (the message at R1) on the board's console as Console.Tx
	// does -- wait while Status & Full, then write the byte to Data --
	// and stop.
	MOVD	(Facts_Console+Console_Base)(R20), R3
	MOVD	(Facts_Console+Console_Status)(R20), R5
	MOVD	(Facts_Console+Console_Data)(R20), R6
	MOVWU	(Facts_Console+Console_Full)(R20), R7
	ADD	R3, R5
	ADD	R3, R6
next:
	MOVBU.P	1(R1), R2
	CBZ	R2, stop
wait:
	MOVWU	0(R5), R4
	TST	R7, R4
	BNE	wait
	MOVW	R2, 0(R6)
	B	next
stop:
	WFI
	B	stop

DATA linked<>+0(SB)/8, $el2entry(SB)
GLOBL linked<>(SB), RODATA, $8
// text_offset 0x1ff000 on every board: each links Ferry at its RAM base +
// 2 MiB (the Makefile's -T), the Image's header a page below.
DATA msgEL<>+0(SB)/8, $"ferry: n"
DATA msgEL<>+8(SB)/8, $"ot enter"
DATA msgEL<>+16(SB)/8, $"ed at EL"
DATA msgEL<>+24(SB)/8, $"2, stopp"
DATA msgEL<>+32(SB)/8, $"ing\r\n\x00\x00\x00"
GLOBL msgEL<>(SB), RODATA, $40
DATA msgPlace<>+0(SB)/8, $"ferry: n"
DATA msgPlace<>+8(SB)/8, $"ot runni"
DATA msgPlace<>+16(SB)/8, $"ng where"
DATA msgPlace<>+24(SB)/8, $" linked "
DATA msgPlace<>+32(SB)/8, $"(Image a"
DATA msgPlace<>+40(SB)/8, $"t DRAM b"
DATA msgPlace<>+48(SB)/8, $"ase + te"
DATA msgPlace<>+56(SB)/8, $"xt_offse"
DATA msgPlace<>+64(SB)/8, $"t 0x1ff0"
DATA msgPlace<>+72(SB)/8, $"00 wante"
DATA msgPlace<>+80(SB)/8, $"d), stop"
DATA msgPlace<>+88(SB)/8, $"ping\r\n\x00\x00"
GLOBL msgPlace<>(SB), RODATA, $96
DATA msgDTB<>+0(SB)/8, $"ferry: t"
DATA msgDTB<>+8(SB)/8, $"he DTB ("
DATA msgDTB<>+16(SB)/8, $"x0) lies"
DATA msgDTB<>+24(SB)/8, $" in Ferr"
DATA msgDTB<>+32(SB)/8, $"y's heap"
DATA msgDTB<>+40(SB)/8, $" and sta"
DATA msgDTB<>+48(SB)/8, $"ck, stop"
DATA msgDTB<>+56(SB)/8, $"ping\r\n\x00\x00"
GLOBL msgDTB<>(SB), RODATA, $64
