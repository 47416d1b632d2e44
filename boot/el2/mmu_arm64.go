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
var el2Table [2 * mmu.PageSize / 8]uint64

func el2L1() *[512]uint64 {
	p := (uintptr(unsafe.Pointer(&el2Table[0])) + mmu.PageSize - 1) &^ (mmu.PageSize - 1)
	return (*[512]uint64)(unsafe.Pointer(p))
}

// EnableMMU identity-maps the address space for EL2 with 1 GiB blocks: the
// GiB of RAM at ramBase (which holds Ferry) as Normal memory, everything
// else as Device memory until the DTB says where the rest of RAM is. It
// runs before the Go runtime is set up (Hwinit0): no allocation.
func EnableMMU(ramBase uint64) {
	t := el2L1()
	for i := range t {
		t[i] = mmu.EL2Block(uint64(i)<<30, false)
	}
	t[ramBase>>30] = mmu.EL2Block(ramBase, true)

	cpu.WriteMAIR_EL2(mmu.MAIREL2)
	cpu.WriteTCR_EL2(mmu.TCREL2)
	cpu.WriteTTBR0_EL2(uint64(uintptr(unsafe.Pointer(t))))
	cpu.FlushEL2()
	s := cpu.ReadSCTLR_EL2()
	s &^= sctlrA | sctlrWXN | sctlrEE
	s |= sctlrM | sctlrC | sctlrI
	cpu.WriteSCTLR_EL2(s)
}

// MapRAM marks every 1 GiB block that holds RAM as Normal memory.
func MapRAM(ram []phys.Range) {
	t := el2L1()
	for _, r := range ram {
		for a := r.Base &^ (1<<30 - 1); a < r.Base+r.Size; a += 1 << 30 {
			t[a>>30] = mmu.EL2Block(a, true)
		}
	}
	cpu.FlushEL2()
}
