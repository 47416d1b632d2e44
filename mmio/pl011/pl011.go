// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package pl011 is the migratable state of the guest's console UART, an
// ARM PrimeCell UART (PL011). The UART is passed through: the guest
// drives it directly, and since every configuration register reads back,
// its state is read from the device at the pause (Capture) and replayed on
// the destination's UART in the order the TRM requires (State.Replay).
// Nothing traps.
//
// The FIFOs, the data in flight and the raw interrupt status are the
// device's own and are not migrated.
package pl011

// Registers, offsets from the UART's base (ARM PrimeCell UART (PL011)
// Technical Reference Manual, DDI 0183, 3.2 "Summary of registers",
// Table 3-1; each register's description in 3.3).
const (
	UARTFR    = 0x018 // 3.3.3 Flag Register
	UARTIBRD  = 0x024 // 3.3.5 Integer Baud Rate Register, 16 bits
	UARTFBRD  = 0x028 // 3.3.6 Fractional Baud Rate Register, 6 bits
	UARTLCR_H = 0x02C // 3.3.7 Line Control Register, 8 bits
	UARTCR    = 0x030 // 3.3.8 Control Register, 16 bits
	UARTIFLS  = 0x034 // 3.3.9 Interrupt FIFO Level Select Register, 6 bits
	UARTIMSC  = 0x038 // 3.3.10 Interrupt Mask Set/Clear Register, 11 bits
	UARTDMACR = 0x048 // 3.3.14 DMA Control Register, 3 bits
)

// Register fields used by Replay.
const (
	LCRH_FEN = 1 << 4 // UARTLCR_H: FIFOs enabled (3.3.7)
	FR_BUSY  = 1 << 3 // UARTFR: transmitting (3.3.3)
)
