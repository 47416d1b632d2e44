// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package imx8mp

// i.MX UART registers Ferry's console writes use (IMX8MPRM, the UART
// chapter's "UART Memory Map/Register Definition"; the configuration
// registers the guest programs are package mmio/imxuart's):
// facts.Console, the i.MX UART at earlyUART until the DTB names the
// console.
const (
	uartUTXD   = 0x40   // UART Transmitter Register
	uartUTS    = 0xB4   // UART Test Register
	uartTXFULL = 1 << 4 // UTS: the transmit FIFO is full
)
