// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

#include "go_asm.h"
#include "textflag.h"
#include "../../cpu/sysreg_arm64.h"

// secondaryEntry is where a secondary CPU starts (PSCI CPU_ON, Arm DEN 0022
// 6.4.3: at EL2 with its MMU and caches off, x0 = context_id = the CPU's
// index in cpus). With the MMU off every data access is Device memory, so
// until the MMU is on it only loads, aligned, from smpBoot, which the boot
// CPU cleaned to the point of coherency. It sets what Ferry's code at EL2
// relies on, as el2entry and hwinit0 do on the boot CPU: FP/SIMD untrapped
// (CPTR_EL2), AArch64 at EL1 and nothing else of HCR_EL2 (the firmware's
// E2H or TGE would change what EL2's registers mean), the vectors, the
// EL2 identity map (the boot CPU's registers: one table for every CPU),
// TPIDR_EL2 = its index (procID), the event stream for its WFEs
// (CNTHCTL_EL2.EVNTEN: every 2^12 counter ticks, 65 us at 62.5 MHz) and
// the GIC's system registers (ICC_SRE_EL2, to send the kick SGI); then,
// on its boot stack in cpus[i], it says it is online (DSB; SEV) and waits
// in WFE for Task to place its thread, and starts it.
TEXT ·secondaryEntry(SB),NOSPLIT|NOFRAME,$0
	MOVD	R0, R19

	MOVD	$0x33ff, R1 // as el2entry: RES1 bits, TZ and TSM set, TFP clear
	MSR_CPTR_EL2(1)
	MOVD	$(1<<31), R1 // HCR_EL2.RW
	MSR_HCR_EL2(1)
	ISB	$15

	MOVD	$·secondaryBoot(SB), R2
	MOVD	smpBoot_vbar(R2), R1
	MSR_VBAR_EL2(1)
	MOVD	smpBoot_mair(R2), R1
	MSR_MAIR_EL2(1)
	MOVD	smpBoot_tcr(R2), R1
	MSR_TCR_EL2(1)
	MOVD	smpBoot_ttbr0(R2), R1
	MSR_TTBR0_EL2(1)
	ISB	$15
	DSB	$15
	TLBI_ALLE2(31)
	DSB	$15
	IC_IALLU(31)
	DSB	$15
	ISB	$15
	MOVD	smpBoot_sctlr(R2), R1
	MSR_SCTLR_EL2(1)
	ISB	$15

	MSR_TPIDR_EL2(19)
	MOVD	$((12<<4)|(1<<2)|3), R1 // EVNTI 12, EVNTEN, EL1PCEN, EL1PCTEN
	MSR_CNTHCTL_EL2(1)
	MOVD	$0xf, R1 // ICC_SRE_EL2: SRE, DFB, DIB, Enable
	MSR_ICC_SRE_EL2(1)
	ISB	$15

	// R4 = &cpus[index]; its boot stack's top.
	MOVD	$·cpus(SB), R4
	MOVD	$percpu__size, R1
	MUL	R19, R1
	ADD	R1, R4
	MOVD	$(percpu_stack+const_bootStackSize), R1
	ADD	R4, R1
	MOVD	R1, RSP
	MOVD	$0, R29

	MOVW	$1, R1
	ADD	$percpu_online, R4, R2
	STLRW	R1, (R2)
	DSB	$15
	SEV

	// Wait for slot 0 to be a new thread, then start it.
	ADD	$percpu_thr, R4, R5
wait:
	LDARW	(R5), R1 // thread_state is at offset 0
	CMP	$const_threadNew, R1
	BEQ	start
	WFE
	B	wait
start:
	MOVW	$const_threadRunning, R1
	STLRW	R1, (R5)
	MOVD	thread_sp(R5), R1
	MOVD	R1, RSP
	MOVD	thread_g(R5), g
	MOVD	thread_fn(R5), R9
	B	·threadStart(SB)

// threadStart starts a new thread's function (the runtime's mstart) with
// R9 = its address, SP and g set: R29 = 0 ends the frame chain, and if it
// ever returns (an M whose locked goroutine exited) it returns to
// threadExit.
TEXT ·threadStart(SB),NOSPLIT|NOFRAME,$0
	MOVD	$0, R29
	MOVD	$·threadExit(SB), R30
	JMP	(R9)

// threadExit is where a thread's function returns: it never should.
TEXT ·threadExit(SB),NOSPLIT|NOFRAME,$0
	BL	·threadExited(SB)
stop:
	WFI
	B	stop

// func swtch(from, to *thread)
// Saves the caller's SP, g, R29 and R30 in from and continues to: where
// it was switched out (it returns from its own swtch) or, new, at
// threadStart with R9 = its function. Every other register is the
// caller's to lose (Go's calling convention).
TEXT ·swtch(SB),NOSPLIT|NOFRAME,$0-16
	MOVD	from+0(FP), R0
	MOVD	to+8(FP), R1
	MOVD	RSP, R2
	MOVD	R2, thread_sp(R0)
	MOVD	g, thread_g(R0)
	MOVD	R29, thread_fp(R0)
	MOVD	R30, thread_lr(R0)
	MOVD	thread_sp(R1), R2
	MOVD	R2, RSP
	MOVD	thread_g(R1), g
	MOVD	thread_fp(R1), R29
	MOVD	thread_lr(R1), R30
	MOVD	thread_fn(R1), R9
	RET

// func threadStartPC() uintptr
TEXT ·threadStartPC(SB),NOSPLIT,$0-8
	MOVD	$·threadStart(SB), R0
	MOVD	R0, ret+0(FP)
	RET

// func secondaryEntryPC() uintptr
TEXT ·secondaryEntryPC(SB),NOSPLIT,$0-8
	MOVD	$·secondaryEntry(SB), R0
	MOVD	R0, ret+0(FP)
	RET
