// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"fmt"
	"github.com/ferry-hv/ferry/phys"
)

// MAIR_EL2 attribute indices and encodings used by IdentityEL2 (ARM ARM
// MAIR_EL2 register description).
const (
	mairDeviceNGnRnE uint64 = 0x00 // Device-nGnRnE
	mairNormalWB     uint64 = 0xff // Normal, Inner and Outer WB non-transient RAWA
	mairNormalNC     uint64 = 0x44 // Normal, Inner and Outer Non-cacheable
	mairAttrBits            = 8    // each Attr<n> is a byte
	s1AttrDevice     uint64 = 0    // AttrIndx of Device-nGnRnE
	s1AttrNormal     uint64 = 1    // AttrIndx of Normal WB
	s1AttrNC         uint64 = 2    // AttrIndx of Normal Non-cacheable
)

// MAIREL2 is MAIR_EL2 for IdentityEL2's map: Attr0 = 0x00 (Device-nGnRnE),
// Attr1 = 0xff (Normal, Write-Back Read/Write-Allocate, inner and outer),
// Attr2 = 0x44 (Normal Non-cacheable: the DMA window of a bus master that
// does not snoop the CPU's caches, EL2Level2).
const MAIREL2 uint64 = mairDeviceNGnRnE<<(s1AttrDevice*mairAttrBits) |
	mairNormalWB<<(s1AttrNormal*mairAttrBits) |
	mairNormalNC<<(s1AttrNC*mairAttrBits)

// Stage 1 block attribute fields for the EL2 (single Exception level)
// regime (ARM ARM D8.3).
const (
	s1VABits                = 39 // TCREL2.T0SZ = 25: one level-1 table
	s1StartLevel            = 1
	s1AttrIndxShift         = 2    // AttrIndx[2:0], bits [4:2]: MAIR index
	s1APShift               = 6    // AP[2:1], bits [7:6]
	s1APReadWriteEL2 uint64 = 0b01 // AP[2] = 0 read/write; AP[1] is RES1 at EL2
)

// IdentityEL2 builds an identity map of the 39-bit EL2 virtual address
// space out of 1 GiB level-1 blocks in one level-1 table, and returns the
// table's physical address (for TTBR0_EL2). Every 1 GiB region is
// Device-nGnRnE and execute-never (MAIR index 0), except regions that
// overlap a range in ram, which are Normal Write-Back, Inner Shareable,
// executable (MAIR index 1). All are read/write. Use with MAIREL2 and
// TCREL2.
//
// Because blocks are 1 GiB, a ram range that does not fill its 1 GiB
// regions makes the rest of those regions Normal too.
func IdentityEL2(a *Arena, ram []phys.Range) (root uint64, err error) {
	if a == nil {
		return 0, fmt.Errorf("%w: IdentityEL2 with no arena", ErrArgument)
	}
	if err := checkRAM(ram); err != nil {
		return 0, err
	}
	root, err = a.Alloc(1, PageSize)
	if err != nil {
		return 0, fmt.Errorf("EL2 level-1 table: %w", err)
	}
	w := walker{arena: a, root: root, startLevel: s1StartLevel, rootEntries: tableEntries}
	err = w.walk(0, 1<<s1VABits, func(e entry) (bool, error) {
		e.set(s1Block(e.lo, e.size(), ram))
		return false, nil
	})
	return root, err
}

// checkRAM rejects empty ranges and ranges beyond the 39-bit VA space.
func checkRAM(ram []phys.Range) error {
	const limit = 1 << s1VABits
	for _, r := range ram {
		if r.Size == 0 || r.Base >= limit || r.Size > limit-r.Base {
			return fmt.Errorf("%w: RAM %#x size %#x for a %d-bit EL2 map", ErrRange, r.Base, r.Size, s1VABits)
		}
	}
	return nil
}

// s1Block is the identity block descriptor for [base, base+size).
func s1Block(base, size uint64, ram []phys.Range) uint64 {
	attrs := s1AttrDevice<<s1AttrIndxShift | s1APReadWriteEL2<<s1APShift | descAF | descXN
	for _, r := range ram {
		if r.Base < base+size && base < r.Base+r.Size {
			attrs = s1AttrNormal<<s1AttrIndxShift | s1APReadWriteEL2<<s1APShift | shInner<<descSHShift | descAF
		}
	}
	return leafDesc(base, s1StartLevel, attrs)
}
