// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"unsafe"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
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

// relayMem is r, a range of the board's relay window (Options.RelayDMA):
// Ferry's carve-out outside the Go heap, identity-mapped and Normal
// Non-cacheable at EL2 (el2.EnableMMU's DMA window), which the guest never
// maps. The conversion from an integer is sound: it is a physical address
// the EL2 map holds (go vet cannot know).
func relayMem(r phys.Range) (eqos.Mem, error) {
	return &virtq.Region{Base: r.Base, B: unsafe.Slice((*byte)(unsafe.Pointer(uintptr(r.Base))), r.Size)}, nil
}

// relayHW is what a relay needs of this CPU: its shadow memory, DMB OSH
// (the device does not snoop the caches), and cache maintenance of guest
// RAM, which the guest's driver maps Non-cacheable for such a device.
var relayHW = relayParts{Mem: relayMem, Fence: cpu.DMAFence, Invalidate: cpu.CleanInvalidateDcache, Clean: cpu.CleanDcache}
