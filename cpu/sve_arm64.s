// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

// SVE predicate registers: the part of a guest's SVE state the world switch
// does not carry (its Z registers are the Q registers, the vector length
// being capped at 128 bits). Called only on a CPU with SVE, while the guest
// is stopped.

#include "textflag.h"
#include "sysreg_arm64.h"

// func sveVL() uint64
TEXT ·sveVL(SB),NOSPLIT,$0-8
	SVE_RDVL_X0
	MOVD	R0, ret+0(FP)
	RET

// func svePredSave(buf *byte)
// buf holds 17 slots of VL/8 bytes: P0..P15, then FFR.
TEXT ·svePredSave(SB),NOSPLIT,$0-8
	MOVD	buf+0(FP), R0
	SVE_STR_P0
	SVE_STR_P1
	SVE_STR_P2
	SVE_STR_P3
	SVE_STR_P4
	SVE_STR_P5
	SVE_STR_P6
	SVE_STR_P7
	SVE_STR_P8
	SVE_STR_P9
	SVE_STR_P10
	SVE_STR_P11
	SVE_STR_P12
	SVE_STR_P13
	SVE_STR_P14
	SVE_STR_P15
	SVE_RDFFR_P0
	SVE_STR_P0_SLOT16
	SVE_LDR_P0	// P0 back as the guest left it
	RET

// func svePredLoad(buf *byte)
TEXT ·svePredLoad(SB),NOSPLIT,$0-8
	MOVD	buf+0(FP), R0
	SVE_LDR_P0_SLOT16
	SVE_WRFFR_P0
	SVE_LDR_P0
	SVE_LDR_P1
	SVE_LDR_P2
	SVE_LDR_P3
	SVE_LDR_P4
	SVE_LDR_P5
	SVE_LDR_P6
	SVE_LDR_P7
	SVE_LDR_P8
	SVE_LDR_P9
	SVE_LDR_P10
	SVE_LDR_P11
	SVE_LDR_P12
	SVE_LDR_P13
	SVE_LDR_P14
	SVE_LDR_P15
	RET
