// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virt

import (
	_ "unsafe" // go:linkname

	"github.com/ferry-hv/ferry/boot/el2"
)

// The Go runtime's memory: Ferry's carve-out, with the image at its link
// address inside it and the boot stack at the top.
var (
	//go:linkname ramStart runtime/goos.RamStart
	ramStart uint64 = RAMBase

	//go:linkname ramSize runtime/goos.RamSize
	ramSize uint64 = CarveOutSize
)

// facts are what boot/el2 needs of virt to bring Ferry up; cpuinit
// (entry_arm64.s) hands them to its entry.
var facts = el2.Facts{
	Console:           el2.Console{Base: earlyUART, Status: uartFR, Data: uartDR, Full: uartTXFF},
	ConsoleCompatible: consoleCompatible,
	RAMBase:           RAMBase,
	ImageBase:         ImageBase,
	GuestBase:         GuestBase,
	DTBIfNoX0:         DTBAddr,
	DTBHint:           "QEMU passes it in x0 to an arm64 Image (-kernel build/ferry.img) and leaves it at the base of RAM for an ELF (x0 = 0)",
}
