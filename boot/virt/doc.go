// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package virt is QEMU's arm64 "virt" board
// (-M virt,virtualization=on,gic-version=3) to Ferry: its facts (memory
// layout, interrupts, where QEMU leaves the DTB), its console (a PL011)
// and its clock (the PL031 RTC). Bringing Ferry up at EL2 from them -- the
// entry, the Go runtime's hooks, reading the DTB, the EL2 identity map,
// randomness and power-off -- is package el2's, shared with the other
// boards; cpuinit (entry_arm64.s) hands el2 this board's facts
// (board_arm64.go).
//
// Everything board-specific lives here; a real board is another package
// beside this one (boot/imx8mp). Importing the package is what brings the
// runtime up; cmd/ferry selects it by build tag (board_virt.go).
package virt

// Memory layout. QEMU loads Ferry at its link address: the ELF
// (build/ferry.elf) with the DTB it generates at the base of RAM and x0 =
// 0; the arm64 Image (build/ferry.img, the same bytes from ImageBase with
// the Image header over the ELF header) at DRAM base + text_offset, with
// x0 = the DTB, which QEMU puts after the Image's image_size (and after
// an -initrd, which it puts there first). Ferry's carve-out is the bottom
// of RAM, so the image's link address does not depend on how much RAM
// the board has.
//
//	0x4000_0000  firmware DTB for an ELF (QEMU's, read once at start)
//	0x401f_f000  the Image's header page (ImageBase; text_offset 0x1ff000)
//	0x4020_0000  Ferry's text, data, bss, then its heap; stack at the top
//	0x4800_0000  guest RAM: patched DTB, kernel, initramfs, the OS's memory
//	RAM end
const (
	RAMBase      = 0x40000000         // first byte of RAM on virt
	DTBAddr      = RAMBase            // where QEMU leaves its DTB for an ELF -kernel
	ImageBase    = RAMBase + 0x1ff000 // first byte of the Image (and of the ELF's first segment)
	CarveOutSize = 128 << 20          // Ferry's own memory, never mapped for the guest
	GuestBase    = RAMBase + CarveOutSize

	earlyUART = 0x09000000 // PL011 before the DTB is read (the board's default)
	// consoleCompatible is the UART Ferry's console (console.go) drives.
	consoleCompatible = "arm,pl011"

	// HypTimerINTID is the EL2 physical timer's interrupt: PPI 10, the
	// fourth entry of the DTB's /timer interrupts on virt.
	HypTimerINTID = 26
	// MaintINTID is the GIC's virtual-CPU-interface maintenance interrupt:
	// PPI 9, the interrupts property of the DTB's GIC node on virt.
	MaintINTID = 25
)
