// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package imxuart is the migratable state of the guest's console when it
// is an i.MX UART (devicetree "fsl,imx6q-uart": the i.MX6 to i.MX8M SoCs,
// the i.MX8M Plus among them). Like the PL011 (package mmio/pl011) it is
// passed through: every configuration register reads back, so its state
// is read from the device at the pause (Capture) and written to the
// destination's UART (State.Replay) in the order Linux's own driver
// restores it after suspend (drivers/tty/serial/imx.c,
// imx_uart_save_context and imx_uart_restore_context). Nothing traps.
//
// The FIFOs, the data in flight, the status registers (USR1, USR2) and
// the baud rate counter (UBRC) are the device's own and are not migrated.
// This package does not drive the UART; Ferry's console writes on it are
// the board package's (boot/imx8mp).
package imxuart

// Registers, offsets from the UART's base (i.MX 8M Plus Applications
// Processor Reference Manual, IMX8MPRM, the UART chapter's "UART Memory
// Map/Register Definition"; the same block on the i.MX6 and i.MX8M). Each
// is 32 bits wide with the upper 16 reading as zero.
const (
	UCR1 = 0x80 // UART Control Register 1
	UCR2 = 0x84 // UART Control Register 2
	UCR3 = 0x88 // UART Control Register 3
	UCR4 = 0x8C // UART Control Register 4
	UFCR = 0x90 // UART FIFO Control Register
	USR2 = 0x98 // UART Status Register 2
	UESC = 0x9C // UART Escape Character Register
	UTIM = 0xA0 // UART Escape Timer Register
	UBIR = 0xA4 // UART BRM Incremental Register
	UBMR = 0xA8 // UART BRM Modulator Register
	UTS  = 0xB4 // UART Test Register
)

// Register fields used by Replay.
const (
	UCR2_SRST = 1 << 0 // UCR2: software reset, active low (0 resets the UART)
	USR2_TXDC = 1 << 3 // USR2: transmitter complete (FIFO and shift register empty)
)
