// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virt

// PL011 registers Ferry's console writes use (ARM PrimeCell UART (PL011)
// Technical Reference Manual, 3.2 "Summary of registers"): facts.Console,
// the PL011 at earlyUART until the DTB names the console.
const (
	uartDR   = 0x00   // data register
	uartFR   = 0x18   // flag register
	uartTXFF = 1 << 5 // FR: transmit FIFO full
)
