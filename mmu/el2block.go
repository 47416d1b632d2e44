// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"fmt"

	"github.com/ferry-hv/ferry/phys"
)

// EL2Block is the level-1 identity block descriptor IdentityEL2 writes for
// the 1 GiB region at base: Normal memory when normal is set, else Device.
// Boards use it to build or patch the EL2 map in place before the Go heap
// exists.
func EL2Block(base uint64, normal bool) uint64 {
	var ram []phys.Range
	if normal {
		ram = []phys.Range{{Base: base, Size: 1}}
	}
	return s1Block(base, levelSize(s1StartLevel), ram)
}

// Block2MSize is the size a level-2 block descriptor maps.
const Block2MSize = 1 << 21

// EL2Table is the level-1 descriptor that points at a level-2 table at pa
// (4 KiB aligned), which EL2Level2 fills.
func EL2Table(pa uint64) uint64 { return tableDesc(pa) }

// EL2Level2 fills t, the level-2 table for the 1 GiB of RAM at gib, with
// identity 2 MiB blocks: Normal Write-Back like EL2Block's RAM, except
// those inside nc, which are Normal Non-cacheable (MAIR index 2), Outer
// Shareable, execute-never -- memory a bus master that does not snoop the
// CPU's caches shares with Ferry, coherent with no cache maintenance.
// nc must be 2 MiB aligned and inside the GiB; it may be empty. Like
// EL2Block, it runs before the Go heap exists: no allocation.
func EL2Level2(t *[512]uint64, gib uint64, nc phys.Range) error {
	if gib%(1<<30) != 0 {
		return fmt.Errorf("%w: EL2 level-2 table for %#x, not a GiB boundary", ErrArgument, gib)
	}
	if nc.Size != 0 && (nc.Base%Block2MSize != 0 || nc.Size%Block2MSize != 0 || nc.Base < gib || nc.End() > gib+1<<30) {
		return fmt.Errorf("%w: non-cacheable window %#x size %#x is not 2 MiB blocks inside the GiB at %#x", ErrArgument, nc.Base, nc.Size, gib)
	}
	for i := range t {
		base := gib + uint64(i)*Block2MSize
		attrs := s1AttrNormal<<s1AttrIndxShift | s1APReadWriteEL2<<s1APShift | shInner<<descSHShift | descAF
		if nc.Size != 0 && base >= nc.Base && base < nc.End() {
			attrs = s1AttrNC<<s1AttrIndxShift | s1APReadWriteEL2<<s1APShift | shOuter<<descSHShift | descAF | descXN
		}
		t[i] = leafDesc(base, 2, attrs)
	}
	return nil
}
