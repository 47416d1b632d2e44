// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package imx8mp is a board with an NXP i.MX8M Plus (Cortex-A53, GICv3;
// the 8MPLUSLPD4-EVK and its kin), started by U-Boot after TF-A, to Ferry:
// its facts (memory layout, interrupts, the DTB in x0), its console (an
// i.MX UART) and its clock (the SNVS real-time counter). Bringing Ferry up
// at EL2 from them -- the entry, the Go runtime's hooks, reading the DTB
// U-Boot passes, the EL2 identity map, randomness and power-off (PSCI to
// TF-A) -- is package el2's, shared with boot/virt; cpuinit
// (entry_arm64.s) hands el2 this board's facts (board_arm64.go).
//
// Everything specific to this board lives here; the machine itself --
// which devices the guest gets, what traps, what migrates -- is described
// from the board's DTB by package hyp, the same as on QEMU. Importing the
// package is what brings the runtime up; cmd/ferry selects it with the
// imx8mp build tag (make image BOARD=imx8mp). It builds; it has not been
// run on hardware.
package imx8mp

// Memory layout. DRAM starts at 0x4000_0000 (IMX8MPRM, "System Memory
// Map"); TF-A's BL31 runs from on-chip RAM, so DRAM is the OS's from its
// base. Ferry's carve-out is the bottom 128 MiB, as on virt, so one image
// runs whatever the board's RAM size:
//
//	0x4000_0000  below the image: where U-Boot should put the DTB (fdt_addr_r)
//	0x401f_f000  the arm64 Image (build/ferry-imx8mp.img): its header page, ImageBase
//	0x4020_0000  Ferry's text (LinkAddress), data, bss, then its heap; stack at the top
//	0x47e0_0000  the DMA window (DMABase, 2 MiB, Non-cacheable at EL2: nic.go): the ENET's,
//	0x47ff_0000  and in its top 64 KiB the shadow rings of the guest's EQOS (RelayBase)
//	0x4800_0000  guest RAM: patched DTB, kernel, initramfs, the OS's memory
//	RAM end      (6 GiB on the EVK, in two ranges)
//
// Entry follows the arm64 Linux boot protocol, as U-Boot's booti and bootm
// enter a kernel: at EL2, MMU and data cache off, x0 the DTB's physical
// address (Documentation/arch/arm64/booting.rst); booti places the Image at
// DRAM base + text_offset (flags bit 3 clear), where it was linked, and
// Ferry checks that it runs there. The DTB must lie outside the image and
// its heap, i.e. below ImageBase or in guest RAM, and is copied before
// anything else is allocated.
const (
	RAMBase      = 0x40000000 // first byte of DRAM
	LinkAddress  = RAMBase + 2<<20
	ImageBase    = LinkAddress - 0x1000 // first byte of the Image: the ELF's header page
	CarveOutSize = 128 << 20            // Ferry's own memory, never mapped for the guest
	GuestBase    = RAMBase + CarveOutSize

	// earlyUART is the console before the DTB is read: UART2, the EVK's
	// debug port (its DTB's stdout-path; U-Boot's console).
	earlyUART = 0x30890000

	// consoleCompatible is the UART Ferry's console driver
	// (console_arm64.go) drives.
	consoleCompatible = "fsl,imx6q-uart"
	// snvsCompatible is the SNVS block's node, whose real-time counter
	// WallClock reads (rtc_arm64.go).
	snvsCompatible = "fsl,sec-v4.0-mon"

	// HypTimerINTID is the EL2 physical timer's interrupt: PPI 10, the
	// fourth entry of the DTB's /timer interrupts (imx8mp.dtsi).
	HypTimerINTID = 26
	// MaintINTID is the GIC's virtual-CPU-interface maintenance interrupt:
	// PPI 9, the interrupts property of the EVK DTB's GIC node.
	MaintINTID = 25
)
