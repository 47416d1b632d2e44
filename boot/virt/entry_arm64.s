// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

#include "textflag.h"

// cpuinit is Ferry's first code (the Image's code0 and the ELF's entry
// lead here through _rt0_arm64_tamago and goos.CPUInit). QEMU enters it at
// EL2 with the MMU and caches off: as an arm64 Image (-kernel
// build/ferry.img) by its Linux loader with x0 = the DTB, as an ELF
// (build/ferry.elf) with x0 = 0 and its DTB at the base of RAM. It is
// boot/el2's entry, given virt's facts (board_arm64.go), x0 untouched.
TEXT cpuinit(SB),NOSPLIT|NOFRAME,$0
	MOVD	$·facts(SB), R1	// PC-relative (ADRP+ADD)
	B	el2entry(SB)
