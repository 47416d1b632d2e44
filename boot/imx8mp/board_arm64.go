// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package imx8mp

import (
	_ "unsafe" // go:linkname

	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/phys"
)

// The Go runtime's memory: Ferry's carve-out below the ENET's DMA window
// (nic.go), with the image at its link address inside it and the boot
// stack at the top.
var (
	//go:linkname ramStart runtime/goos.RamStart
	ramStart uint64 = RAMBase

	//go:linkname ramSize runtime/goos.RamSize
	ramSize uint64 = RuntimeSize
)

// facts are what boot/el2 needs of the board to bring Ferry up; cpuinit
// (entry_arm64.s) hands them to its entry. The DTB comes only in x0.
var facts = el2.Facts{
	Console:           el2.Console{Base: earlyUART, Status: uartUTS, Data: uartUTXD, Full: uartTXFULL},
	ConsoleCompatible: consoleCompatible,
	RAMBase:           RAMBase,
	ImageBase:         ImageBase,
	GuestBase:         GuestBase,
	DTBHint:           "U-Boot passes the DTB's address in x0 (booti, bootm); put it below the image (fdt_addr_r=0x40000000)",
	DMA:               phys.Range{Base: DMABase, Size: DMASize},
}
