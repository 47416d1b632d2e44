// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virt

import "github.com/ferry-hv/ferry/boot/el2"

// PL011 registers Ferry's console writes use (ARM PrimeCell UART (PL011)
// Technical Reference Manual, 3.2 "Summary of registers").
const (
	uartDR   = 0x00   // data register
	uartFR   = 0x18   // flag register
	uartTXFF = 1 << 5 // FR: transmit FIFO full
)

// console is the PL011 Ferry prints its own messages on.
var console = el2.Console{Base: earlyUART, Status: uartFR, Data: uartDR, Full: uartTXFF}
