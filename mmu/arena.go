// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"encoding/binary"
	"fmt"
)

// PageSize is the translation granule and the size of one translation
// table: 4 KiB.
const PageSize = 4096

// BlockSize is a level-2 block of the 4 KiB granule: what guest RAM is
// mapped in outside dirty tracking (ARM ARM D8.2.7).
const BlockSize = 2 << 20

const (
	descBytes    = 8                    // a VMSAv8-64 descriptor is 64 bits
	tableEntries = PageSize / descBytes // 512 descriptors per 4 KiB table
)

// Arena hands out zeroed, naturally aligned 4 KiB translation tables from a
// block of memory whose physical address is Base.
//
// It is a bump allocator with a free list of single tables: the level-3
// tables dirty tracking splits blocks into are given back when the blocks
// are merged again, and the next split reuses them. Descriptors are read
// and written with Load and Store, which access the arena's memory in the
// little-endian byte order the MMU uses (no unsafe aliasing is needed).
type Arena struct {
	mem  []byte
	base uint64
	used uint64   // offset of the first byte not yet handed out
	free []uint64 // single tables given back (Free), reused first
}

// NewArena returns an arena over mem, whose first byte is at physical
// address base. base must be 4 KiB aligned and len(mem) a multiple of 4 KiB.
func NewArena(mem []byte, base uint64) (*Arena, error) {
	size := uint64(len(mem))
	switch {
	case base%PageSize != 0:
		return nil, fmt.Errorf("%w: arena base %#x", ErrAlign, base)
	case size%PageSize != 0:
		return nil, fmt.Errorf("%w: arena size %#x", ErrAlign, size)
	case base+size < base:
		return nil, fmt.Errorf("%w: arena at %#x size %#x wraps", ErrRange, base, size)
	}
	return &Arena{mem: mem, base: base}, nil
}

// Base is the physical address of the arena's first byte.
func (a *Arena) Base() uint64 { return a.base }

// Used returns the number of bytes handed out so far, including any padding
// skipped to honour an alignment.
func (a *Arena) Used() uint64 { return a.used }

// Alloc hands out pages contiguous zeroed 4 KiB pages and returns the
// physical address of the first, which is a multiple of align (a power of
// two, at least PageSize). It returns ErrExhausted when the arena has no
// room left.
func (a *Arena) Alloc(pages int, align uint64) (pa uint64, err error) {
	if pages <= 0 || align < PageSize || align&(align-1) != 0 {
		return 0, fmt.Errorf("%w: Alloc(%d pages, align %#x)", ErrArgument, pages, align)
	}
	if pages == 1 && align == PageSize && len(a.free) > 0 {
		pa = a.free[len(a.free)-1]
		a.free = a.free[:len(a.free)-1]
		off := pa - a.base
		clear(a.mem[off : off+PageSize])
		return pa, nil
	}
	next := a.base + a.used
	start := (next + align - 1) &^ (align - 1)
	size := uint64(len(a.mem))
	off := start - a.base
	if start < next || off > size || uint64(pages) > (size-off)/PageSize {
		return 0, fmt.Errorf("%w: %d pages aligned to %#x, %#x of %#x bytes used",
			ErrExhausted, pages, align, a.used, size)
	}
	end := off + uint64(pages)*PageSize
	clear(a.mem[off:end])
	a.used = end
	return start, nil
}

// Free gives back one table Alloc handed out, for a later Alloc of one
// page. It panics if pa is not a table of the arena.
func (a *Arena) Free(pa uint64) {
	if pa < a.base || pa%PageSize != 0 || pa-a.base >= a.used {
		panic(fmt.Sprintf("mmu: freeing %#x, not a table of the arena at %#x", pa, a.base))
	}
	a.free = append(a.free, pa)
}

// Freed returns how many freed tables wait to be reused.
func (a *Arena) Freed() int { return len(a.free) }

// Load returns descriptor i (0..511) of the table at physical address pa.
// It panics if that table is not inside the arena.
func (a *Arena) Load(pa uint64, i int) uint64 {
	return binary.LittleEndian.Uint64(a.slot(pa, i))
}

// Store writes descriptor i (0..511) of the table at physical address pa.
// It panics if that table is not inside the arena.
func (a *Arena) Store(pa uint64, i int, d uint64) {
	binary.LittleEndian.PutUint64(a.slot(pa, i), d)
}

// slot returns the 8 bytes of descriptor i of the table at pa.
func (a *Arena) slot(pa uint64, i int) []byte {
	off := pa - a.base
	if pa < a.base || pa%PageSize != 0 || off >= uint64(len(a.mem)) || i < 0 || i >= tableEntries {
		panic(fmt.Sprintf("mmu: descriptor %d of table %#x is outside the arena at %#x", i, pa, a.base))
	}
	off += uint64(i) * descBytes
	return a.mem[off : off+descBytes]
}
