// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	"github.com/ferry-hv/ferry/phys"
	"unsafe"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/mmu"
)

// SCTLR_EL2 fields (ARM ARM D23.2 SCTLR_EL2).
const (
	sctlrM   = 1 << 0  // MMU on
	sctlrA   = 1 << 1  // alignment checking
	sctlrC   = 1 << 2  // data cache on
	sctlrI   = 1 << 12 // instruction cache on
	sctlrWXN = 1 << 19 // writable implies execute-never
	sctlrEE  = 1 << 25 // big-endian data at EL2
)

// el2Table backs the EL2 level-1 table: 512 descriptors of 1 GiB, 4 KiB
// aligned inside this array (Go does not align globals beyond 8 bytes).
// el2Level2 backs the level-2 table of Ferry's own GiB when it has a DMA
// window (2 MiB blocks).
var el2Table, el2Level2 [2 * mmu.PageSize / 8]uint64

// ownTable is the level-1 index of the GiB mapped by el2Level2, -1 if none.
var ownTable = -1

func aligned(a *[2 * mmu.PageSize / 8]uint64) *[512]uint64 {
	p := (uintptr(unsafe.Pointer(&a[0])) + mmu.PageSize - 1) &^ (mmu.PageSize - 1)
	return (*[512]uint64)(unsafe.Pointer(p))
}

func el2L1() *[512]uint64 { return aligned(&el2Table) }

// EnableMMU identity-maps the address space for EL2 with 1 GiB blocks: the
// GiB of RAM at ramBase (which holds Ferry) as Normal memory, everything
// else as Device memory until the DTB says where the rest of RAM is. It
// runs before the Go runtime is set up (Hwinit0): no allocation.
//
// dma, if not empty, is a window of Ferry's GiB in 2 MiB blocks mapped
// Normal Non-cacheable (mmu.EL2Level2): the memory Ferry shares with a bus
// master that does not snoop its caches (the i.MX8M Plus ENET's rings and
// buffers, Facts.DMA). That GiB is then mapped by a level-2 table of 2 MiB
// blocks from the start: no live block is ever split. The board's host
// test checks its window (a bad one would be mapped Write-Back here, the
// runtime not yet there to report it).
func EnableMMU(ramBase uint64, dma phys.Range) {
	t := el2L1()
	for i := range t {
		t[i] = mmu.EL2Block(uint64(i)<<30, false)
	}
	t[ramBase>>30] = mmu.EL2Block(ramBase, true)
	if dma.Size != 0 {
		l2 := aligned(&el2Level2)
		if mmu.EL2Level2(l2, ramBase&^(1<<30-1), dma) == nil {
			t[ramBase>>30] = mmu.EL2Table(uint64(uintptr(unsafe.Pointer(l2))))
			ownTable = int(ramBase >> 30)
		}
	}

	cpu.WriteMAIR_EL2(mmu.MAIREL2)
	cpu.WriteTCR_EL2(mmu.TCREL2)
	cpu.WriteTTBR0_EL2(uint64(uintptr(unsafe.Pointer(t))))
	cpu.FlushEL2()
	s := cpu.ReadSCTLR_EL2()
	s &^= sctlrA | sctlrWXN | sctlrEE
	s |= sctlrM | sctlrC | sctlrI
	cpu.WriteSCTLR_EL2(s)
}

// MapRAM marks every 1 GiB block that holds RAM as Normal memory; Ferry's
// own GiB, if a level-2 table maps it (EnableMMU's dma), stays so.
func MapRAM(ram []phys.Range) {
	t := el2L1()
	for _, r := range ram {
		for a := r.Base &^ (1<<30 - 1); a < r.Base+r.Size; a += 1 << 30 {
			if int(a>>30) != ownTable {
				t[a>>30] = mmu.EL2Block(a, true)
			}
		}
	}
	cpu.FlushEL2()
}
