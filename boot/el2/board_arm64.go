// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import "github.com/ferry-hv/ferry/boot/dtb"

var (
	x0          uint64 // stored by the entry once it has cleared the bss
	dtbAt       uint64
	firmwareDTB []byte
	board       *dtb.Board
)

// X0 is x0 at entry: the DTB's address from a loader that boots Linux
// (QEMU's for -kernel build/ferry.img, U-Boot's booti), 0 from QEMU's ELF
// loader.
func X0() uint64 { return x0 }

// DTB is where the firmware's DTB was read: x0, or the board's DTBIfNoX0
// when x0 was 0.
func DTB() uint64 { return dtbAt }

// FirmwareDTB is a copy of the DTB the board's firmware passed.
func FirmwareDTB() []byte { return firmwareDTB }

// Board is the machine as the firmware's DTB describes it.
func Board() *dtb.Board { return board }

func readBoard(f *Facts) error {
	dtbAt = x0
	if dtbAt == 0 {
		dtbAt = f.DTBIfNoX0
	}
	blob, b, err := ReadDTB(uintptr(dtbAt), f.ImageBase, f.GuestBase, f.DTBHint)
	if err != nil {
		return err
	}
	if err := checkDTB(b, f.RAMBase, f.ConsoleCompatible); err != nil {
		return err
	}
	firmwareDTB, board = blob, b
	f.Console.Base = uintptr(b.UART.Base)
	MapRAM(b.Memory)
	SeedRNG(b.RNGSeed)
	return nil
}
