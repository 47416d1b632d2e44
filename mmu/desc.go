// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

// VMSAv8-64 descriptor format, 4 KiB granule, 48-bit output address
// (ARM ARM D8.3 "Translation table descriptor formats").
//
// Bits [1:0] give the type: 0bx0 invalid, 0b01 block (levels 1 and 2),
// 0b11 table (levels 0 to 2) or page (level 3). Leaf (block and page)
// descriptors keep the lower attributes in bits [11:2] and the upper
// attributes in bits [63:50]; the address is in bits [47:12].
const (
	descInvalid   uint64 = 0
	descValid     uint64 = 1 << 0 // bit[0]: valid
	descTableBit  uint64 = 1 << 1 // bit[1]: table or page (1), block (0)
	descTypeMask         = descValid | descTableBit
	descBlockType        = descValid
	descTableType        = descValid | descTableBit // also the page type at level 3

	descSHShift        = 8       // SH[1:0], bits [9:8]: shareability
	descAF      uint64 = 1 << 10 // AF: access flag; 0 faults on first access
	descXN      uint64 = 1 << 54 // XN (stage 2 XN[1]; EL2 stage 1 XN): execute never

	oaBits              = 48
	descOAMask   uint64 = (1<<oaBits - 1) &^ (PageSize - 1) // bits [47:12]
	descAttrMask        = ^(descOAMask | descTypeMask)      // leaf attributes
)

// Shareability (SH) and cacheability encodings shared by descriptors,
// TCR_EL2 and VTCR_EL2.
const (
	shInner   uint64 = 0b11 // Inner Shareable
	shOuter   uint64 = 0b10 // Outer Shareable
	cacheWBWA uint64 = 0b01 // Normal, Write-Back Read-Allocate Write-Allocate
)

// Lookup levels with the 4 KiB granule: each level resolves 9 address bits
// and level 3 maps 4 KiB pages (ARM ARM D8, translation with the 4KB granule).
const (
	pageShift  = 12
	tableShift = 9 // log2(tableEntries)
	lastLevel  = 3
)

// levelShift is the lowest address bit resolved at level.
func levelShift(level int) uint {
	return pageShift + tableShift*uint(lastLevel-level)
}

// levelSize is the size of the region one descriptor at level maps.
func levelSize(level int) uint64 { return 1 << levelShift(level) }

func isValid(d uint64) bool { return d&descValid != 0 }

// isTable reports whether d is a table descriptor at level.
func isTable(d uint64, level int) bool {
	return level < lastLevel && d&descTypeMask == descTableType
}

// isLeaf reports whether d is a block (levels 1, 2) or page (level 3).
func isLeaf(d uint64, level int) bool { return d&descTypeMask == leafType(level) }

// leafType is the type field of a leaf descriptor at level.
func leafType(level int) uint64 {
	if level == lastLevel {
		return descTableType
	}
	return descBlockType
}

// leafDesc builds a block or page descriptor for output address oa, taking
// the attribute bits of attrs.
func leafDesc(oa uint64, level int, attrs uint64) uint64 {
	return oa&descOAMask | attrs&descAttrMask | leafType(level)
}

// tableDesc builds a table descriptor pointing at the table at pa.
func tableDesc(pa uint64) uint64 { return pa&descOAMask | descTableType }

// outputAddr is the address a table, block or page descriptor points at.
func outputAddr(d uint64) uint64 { return d & descOAMask }
