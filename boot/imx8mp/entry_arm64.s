// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

#include "textflag.h"

// cpuinit is Ferry's first code (the Image's code0 leads here through
// _rt0_arm64_tamago and goos.CPUInit). U-Boot enters it as it would a
// kernel (booti: build/ferry-imx8mp.img): at EL2, MMU and data cache off,
// x0 = the DTB's address. It is boot/el2's entry, given this board's
// facts (board_arm64.go), x0 untouched.
TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·facts(SB), R1	// PC-relative (ADRP+ADD)
	B	el2entry(SB)
