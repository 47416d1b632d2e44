// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package sysregtab

// SysInsn is an A64 system instruction (SYS alias: DC, IC, TLBI) by its
// encoding fields (ARM ARM C6.2 SYS).
type SysInsn struct {
	Name               string // macro name, e.g. "DC_CVAC"
	Op1, CRn, CRm, Op2 uint32
	Doc                string
}

const sysBase uint32 = 0xd5080000

// Encode returns the instruction with register rt (31 for none).
func (s SysInsn) Encode(rt uint32) uint32 {
	return sysBase | s.Op1<<16 | s.CRn<<12 | s.CRm<<8 | s.Op2<<5 | rt&31
}

// SysInsns are the cache and TLB maintenance instructions Ferry issues.
var SysInsns = []SysInsn{
	{"DC_CVAC", 3, 7, 10, 1, "ARM ARM C5.3 DC CVAC, clean data cache line by VA to PoC"},
	{"DC_CIVAC", 3, 7, 14, 1, "ARM ARM C5.3 DC CIVAC, clean and invalidate data cache line by VA to PoC"},
	{"IC_IALLU", 0, 7, 5, 0, "ARM ARM C5.3 IC IALLU, invalidate all instruction caches to PoU"},
	{"IC_IALLUIS", 0, 7, 1, 0, "ARM ARM C5.3 IC IALLUIS, invalidate all instruction caches, Inner Shareable"},
	{"TLBI_ALLE2", 4, 8, 7, 0, "ARM ARM C5.5 TLBI ALLE2, invalidate all EL2 stage 1 entries"},
	{"TLBI_VMALLS12E1", 4, 8, 7, 6, "ARM ARM C5.5 TLBI VMALLS12E1, invalidate stage 1 and 2 entries of the current VMID"},
	{"TLBI_VMALLS12E1IS", 4, 8, 3, 6, "ARM ARM C5.5 TLBI VMALLS12E1IS, the same, Inner Shareable"},
	{"TLBI_IPAS2E1IS", 4, 8, 0, 1, "ARM ARM C5.5 TLBI IPAS2E1IS, invalidate stage 2 entries by IPA (Xt = IPA>>12), Inner Shareable"},
	{"TLBI_VMALLE1IS", 0, 8, 3, 0, "ARM ARM C5.5 TLBI VMALLE1IS, invalidate stage 1 EL1 entries of the current VMID, Inner Shareable"},
	{"TLBI_VAAE1IS", 0, 8, 3, 3, "ARM ARM C5.5 TLBI VAAE1IS, invalidate EL1 entries by VA, all ASIDs (Xt = VA>>12), Inner Shareable"},
}
