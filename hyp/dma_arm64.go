// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"unsafe"

	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/mmu"
)

// dmaAlloc is a page-aligned DMA area of size bytes: Ferry's heap,
// identity-mapped (VA == PA), held for as long as the model keeps it.
// QEMU's devices are coherent with the CPU's caches; a board whose DMA is
// not would need this memory non-cacheable.
func dmaAlloc(size uint64) (virtq.Mem, uint64, error) {
	raw := make([]byte, size+mmu.PageSize)
	pa := uint64(uintptr(unsafe.Pointer(&raw[0])))
	skip := (mmu.PageSize - pa%mmu.PageSize) % mmu.PageSize
	return &virtq.Region{Base: pa + skip, B: raw[skip : skip+size]}, pa + skip, nil
}
