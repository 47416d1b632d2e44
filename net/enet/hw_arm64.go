// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package enet

import (
	"fmt"
	"sync/atomic"
	"unsafe"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/phys"
)

// mmio is the ENET's register file at its physical address, which the EL2
// identity map makes its virtual address (Device memory). Accesses are
// ordered against DMA memory as Linux's writel and readl order them: a
// barrier before each write (the descriptors it announces are visible
// first), after each read (what it reported is read after it).
type mmio struct{ base unsafe.Pointer }

func (m mmio) Read32(off uint32) uint32 {
	v := atomic.LoadUint32((*uint32)(unsafe.Add(m.base, off)))
	cpu.DMAFence()
	return v
}

func (m mmio) Write32(off uint32, v uint32) {
	cpu.DMAFence()
	atomic.StoreUint32((*uint32)(unsafe.Add(m.base, off)), v)
}

// OpenAt opens the ENET whose registers are at regs, with its rings and
// buffers in the window dma: a part of Ferry's carve-out outside the Go
// heap that the board maps Normal Non-cacheable at EL2 (the ENET does not
// snoop the CPU's caches) and the guest never maps.
func OpenAt(regs, dma phys.Range, opt Options) (*Device, error) {
	if regs.Size < RegsSize {
		return nil, fmt.Errorf("enet: register window %v is smaller than %#x bytes", regs, RegsSize)
	}
	if dma.Size == 0 {
		return nil, fmt.Errorf("enet %#x: no DMA window: the board maps none Non-cacheable", regs.Base)
	}
	// Both are physical addresses outside the Go heap, identity-mapped:
	// the conversions from integers are sound (go vet cannot know).
	mem := unsafe.Slice((*byte)(unsafe.Pointer(uintptr(dma.Base))), dma.Size)
	region, err := NewRegion(mem, dma.Base, cpu.DMAFence)
	if err != nil {
		return nil, err
	}
	return Open(mmio{unsafe.Pointer(uintptr(regs.Base))}, regs.Base, region, opt)
}
