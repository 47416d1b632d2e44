// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	_ "unsafe" // go:linkname

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/phys"
)

// Facts are what bringing Ferry up needs of its board. A board package
// gives them as a package-level variable with a constant initialiser --
// static data, there before any code runs -- and its cpuinit hands their
// address to the entry (entry_arm64.s).
type Facts struct {
	// Console is the UART Ferry prints on: at the board's default
	// address for the entry's failures and the runtime's first lines,
	// then at the one the DTB's stdout-path names. It is held by value:
	// the entry reaches it relative to the PC, which holds even in an
	// image loaded away from its link address (a pointer would not).
	Console Console
	// ConsoleCompatible is the UART Console drives; a DTB whose console
	// is another is refused.
	ConsoleCompatible string

	RAMBase   uint64 // first byte of RAM: Ferry's carve-out starts there
	ImageBase uint64 // Ferry's first byte (the Image's header)
	GuestBase uint64 // the carve-out's end: guest RAM from here

	// DTBIfNoX0 is where the firmware's DTB is when x0 is 0 at entry
	// (QEMU's ELF loader leaves it at the base of RAM); 0 when the loader
	// must pass it in x0.
	DTBIfNoX0 uint64
	// DTBHint says how the board's firmware should pass the DTB, for the
	// error when it did not.
	DTBHint string

	// DMA is a window of the carve-out, outside the runtime's memory,
	// mapped Normal Non-cacheable (EnableMMU): the rings and
	// buffers of a management NIC that does not snoop the CPU's caches
	// (the i.MX8M Plus ENET); empty on a board without one.
	DMA phys.Range
}

// facts are the board package's, stored by the entry.
var facts *Facts

// The boot stack's offset from the top of the runtime's memory (the
// board's RamStart + RamSize).
//
//go:linkname ramStackOffset runtime/goos.RamStackOffset
var ramStackOffset uint64 = 0x100

// hwinit0 runs before the Go runtime is set up: no allocation. It installs
// the EL2 vectors and turns on the EL2 MMU with an identity map, without
// which every access is Device memory and unaligned accesses fault.
//
//go:linkname hwinit0 runtime/goos.Hwinit0
func hwinit0() {
	cpu.WriteTPIDR_EL2(0) // the boot CPU's index (procID)
	cpu.InstallVectors()
	EnableMMU(facts.RAMBase, facts.DMA)
}

// printk writes one byte of the runtime's standard output to the console.
//
//go:linkname printk runtime/goos.Printk
//go:nosplit
func printk(c byte) {
	facts.Console.Tx(c)
}

// hwinit1 runs once the runtime can allocate: it reads the board from the
// DTB, moves the console to the UART the DTB names, maps the rest of RAM
// for EL2, seeds the random number generator and sets the runtime's
// thread hooks (smp_arm64.go).
//
//go:linkname hwinit1 runtime/goos.Hwinit1
func hwinit1() {
	cpu.Halt = PowerOff
	if err := readBoard(facts); err != nil {
		print("ferry: ", err.Error(), "\n")
		PowerOff()
	}
	installThreads()
}
