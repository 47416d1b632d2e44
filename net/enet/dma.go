// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"fmt"
	"math"
)

// Regs is the ENET's register file: 32-bit registers at offsets from its
// base. The hardware binding orders each access against the CPU's accesses
// to DMA memory as Linux's writel and readl do: a write comes after every
// store to DMA memory before it, a read before every load after it.
type Regs interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
}

// DMA is memory the ENET reads and writes: its descriptor rings and frame
// buffers. On the board it is a window of Ferry's carve-out mapped
// Normal Non-cacheable at EL2 (the i.MX8M Plus ENET does not snoop the
// CPU's caches), so no cache maintenance is needed, only ordering.
type DMA interface {
	// Alloc returns size zeroed bytes aligned to align (a power of two)
	// and their bus address, valid and fixed for the life of the
	// program.
	Alloc(size, align int) (buf []byte, pa uint64, err error)
	// Fence orders the CPU's accesses to DMA memory before it against
	// those after it, as the ENET observes them (DMB OSH): a frame's
	// bytes before the descriptor that hands it over, a descriptor's
	// status before the buffer it describes.
	Fence()
}

// Region is a DMA allocator over one fixed window (a bump allocator:
// nothing is freed). The ENET is a 32-bit bus master: the window must lie
// below 4 GiB.
type Region struct {
	mem   []byte
	base  uint64
	used  int
	fence func()
}

// NewRegion returns an allocator over mem, whose first byte is at bus
// address base; fence is the barrier DMA.Fence issues (nil: none, for a
// software model).
func NewRegion(mem []byte, base uint64, fence func()) (*Region, error) {
	if base+uint64(len(mem)) > math.MaxUint32+1 {
		return nil, fmt.Errorf("enet: DMA window [%#x, %#x) is not below 4 GiB, which the ENET's 32-bit descriptors address", base, base+uint64(len(mem)))
	}
	return &Region{mem: mem, base: base, fence: fence}, nil
}

// Alloc implements DMA.
func (r *Region) Alloc(size, align int) ([]byte, uint64, error) {
	if size <= 0 || align <= 0 || align&(align-1) != 0 {
		return nil, 0, fmt.Errorf("enet: DMA: bad request: %d bytes aligned to %d", size, align)
	}
	pa := (r.base + uint64(r.used) + uint64(align) - 1) &^ (uint64(align) - 1)
	off := int(pa - r.base)
	if off+size > len(r.mem) {
		return nil, 0, fmt.Errorf("enet: DMA window [%#x, %#x) exhausted: %d bytes used, %d more wanted", r.base, r.base+uint64(len(r.mem)), r.used, size)
	}
	r.used = off + size
	b := r.mem[off : off+size : off+size]
	clear(b)
	return b, pa, nil
}

// Fence implements DMA.
func (r *Region) Fence() {
	if r.fence != nil {
		r.fence()
	}
}

// Used is how many bytes of the window are allocated.
func (r *Region) Used() int { return r.used }
