// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virt

import (
	_ "unsafe" // go:linkname

	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/cpu"
)

// The Go runtime's memory: Ferry's carve-out, with the image at its link
// address inside it and the boot stack at the top.
var (
	//go:linkname ramStart runtime/goos.RamStart
	ramStart uint64 = RAMBase

	//go:linkname ramSize runtime/goos.RamSize
	ramSize uint64 = CarveOutSize

	//go:linkname ramStackOffset runtime/goos.RamStackOffset
	ramStackOffset uint64 = 0x100
)

// dtbAddr is x0 at entry (entry_arm64.s): the DTB's address from a Linux
// loader (-kernel build/ferry.img), 0 from QEMU's ELF loader, whose DTB is
// at DTBAddr.
var dtbAddr uint64

// hwinit0 runs before the Go runtime is set up: no allocation. It installs
// the EL2 vectors and turns on the EL2 MMU with an identity map, without
// which every access is Device memory and unaligned accesses fault.
//
//go:linkname hwinit0 runtime/goos.Hwinit0
func hwinit0() {
	cpu.InstallVectors()
	el2.EnableMMU(RAMBase)
}

// printk writes one byte of the runtime's standard output to the console.
//
//go:linkname printk runtime/goos.Printk
//go:nosplit
func printk(c byte) {
	console.Tx(c)
}

// hwinit1 runs once the runtime can allocate: it reads the board from the
// DTB, moves the console to the UART the DTB names, maps the rest of RAM
// for EL2 and seeds the random number generator.
//
//go:linkname hwinit1 runtime/goos.Hwinit1
func hwinit1() {
	cpu.Halt = el2.PowerOff
	if err := readBoard(); err != nil {
		print("ferry: ", err.Error(), "\n")
		el2.PowerOff()
	}
}
