// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package imx8mp

import (
	"fmt"
	"slices"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/el2"
)

var (
	firmwareDTB []byte
	board       *dtb.Board
)

// FirmwareDTB is a copy of the DTB U-Boot passed.
func FirmwareDTB() []byte { return firmwareDTB }

// Board is the machine as the firmware's DTB describes it.
func Board() *dtb.Board { return board }

// X0 is x0 at entry: the DTB's address U-Boot passed.
func X0() uint64 { return dtbAddr }

// DTB is where the firmware's DTB was read: x0.
func DTB() uint64 { return dtbAddr }

func readBoard() error {
	blob, b, err := el2.ReadDTB(uintptr(dtbAddr), ImageBase, GuestBase, "U-Boot passes the DTB's address in x0 (booti, bootm); put it below the image (fdt_addr_r=0x40000000)")
	if err != nil {
		return err
	}
	if len(b.Memory) == 0 || b.Memory[0].Base != RAMBase {
		return fmt.Errorf("firmware device tree: RAM %v does not start at %#x", b.Memory, RAMBase)
	}
	if !slices.Contains(b.UARTCompatible, consoleCompatible) {
		return fmt.Errorf("firmware device tree: console %s (%v) is not an i.MX UART (%s)", b.UARTPath, b.UARTCompatible, consoleCompatible)
	}
	firmwareDTB, board = blob, b
	console.Base = uintptr(b.UART.Base)
	el2.MapRAM(b.Memory)
	el2.SeedRNG(b.RNGSeed)
	return nil
}
