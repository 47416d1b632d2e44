// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virt

import (
	"errors"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/el2"
)

var (
	firmwareDTB []byte
	board       *dtb.Board
)

// FirmwareDTB is a copy of the DTB QEMU generated for this board.
func FirmwareDTB() []byte { return firmwareDTB }

// Board is the machine as the firmware's DTB describes it.
func Board() *dtb.Board { return board }

// X0 is x0 at entry: the DTB's address from a Linux loader, 0 from
// QEMU's ELF loader.
func X0() uint64 { return dtbAddr }

// DTB is where the firmware's DTB was read: x0 at entry, or DTBAddr
// when x0 was 0 (QEMU's ELF loader).
func DTB() uint64 {
	if dtbAddr == 0 {
		return DTBAddr
	}
	return dtbAddr
}

func readBoard() error {
	blob, b, err := el2.ReadDTB(uintptr(DTB()), ImageBase, GuestBase, "QEMU passes it in x0 to an arm64 Image (-kernel build/ferry.img) and leaves it at the base of RAM for an ELF (x0 = 0)")
	if err != nil {
		return err
	}
	if len(b.Memory) == 0 || b.Memory[0].Base != RAMBase {
		return errors.New("firmware device tree: RAM does not start at 0x40000000")
	}
	firmwareDTB, board = blob, b
	console.Base = uintptr(b.UART.Base)
	el2.MapRAM(b.Memory)
	el2.SeedRNG(b.RNGSeed)
	return nil
}
