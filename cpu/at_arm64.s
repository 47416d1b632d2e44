// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

#include "textflag.h"

// func atS1E1R(va uint64) (par uint64)
TEXT ·atS1E1R(SB),NOSPLIT,$0-16
	MOVD	va+0(FP), R0
	WORD	$0xd5387401	// mrs x1, par_el1: the guest's
	WORD	$0xd5087800	// at s1e1r, x0
	ISB	$15		// PAR_EL1 holds the result after a context synchronization
	WORD	$0xd5387400	// mrs x0, par_el1
	WORD	$0xd5187401	// msr par_el1, x1
	MOVD	R0, par+8(FP)
	RET
