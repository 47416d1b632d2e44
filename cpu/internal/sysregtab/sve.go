// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package sysregtab

import "fmt"

// SVE predicate save and restore (ARM ARM C8.2: STR (predicate), LDR
// (predicate), RDFFR, WRFFR, RDVL), with x0 as the base register. The Go
// assembler knows no SVE instruction.
const (
	strPBase uint32 = 0xe5800000 // str p<t>, [x0, #<imm>, mul vl]
	ldrPBase uint32 = 0x85800000 // ldr p<t>, [x0, #<imm>, mul vl]
	rdffrP0  uint32 = 0x2519f000 // rdffr p0.b
	wrffrP0  uint32 = 0x25289000 // wrffr p0.b
	rdvlX0   uint32 = 0x04bf5020 // rdvl x0, #1
)

// predMem encodes the register and the 9-bit signed immediate of a
// predicate load or store (imm9h in [21:16], imm9l in [12:10]).
func predMem(base uint32, pt, imm uint32) uint32 {
	return base | (imm>>3&0x3f)<<16 | (imm&7)<<10 | pt&15
}

// SVEInsn is one fixed SVE instruction for the header.
type SVEInsn struct {
	Name string // macro name
	Enc  uint32
	Asm  string // the instruction, for the comment
}

// SVEInsns stores P0..P15 at slots 0..15 and FFR (through P0) at slot 16
// of a buffer at x0, and loads them back.
func SVEInsns() []SVEInsn {
	var v []SVEInsn
	for p := uint32(0); p < 16; p++ {
		v = append(v,
			SVEInsn{fmt.Sprintf("SVE_STR_P%d", p), predMem(strPBase, p, p), fmt.Sprintf("str p%d, [x0, #%d, mul vl]", p, p)},
			SVEInsn{fmt.Sprintf("SVE_LDR_P%d", p), predMem(ldrPBase, p, p), fmt.Sprintf("ldr p%d, [x0, #%d, mul vl]", p, p)})
	}
	return append(v,
		SVEInsn{"SVE_STR_P0_SLOT16", predMem(strPBase, 0, 16), "str p0, [x0, #16, mul vl]"},
		SVEInsn{"SVE_LDR_P0_SLOT16", predMem(ldrPBase, 0, 16), "ldr p0, [x0, #16, mul vl]"},
		SVEInsn{"SVE_RDFFR_P0", rdffrP0, "rdffr p0.b"},
		SVEInsn{"SVE_WRFFR_P0", wrffrP0, "wrffr p0.b"},
		SVEInsn{"SVE_RDVL_X0", rdvlX0, "rdvl x0, #1"},
	)
}
