// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	"sync/atomic"
	"unsafe"
)

// Console is a polled UART transmitter Ferry prints its own messages on:
// it waits for room in the transmit FIFO (Status & Full clear), then
// writes the byte to Data. The guest drives the same UART through its own
// driver; Ferry only writes whole bytes. Each board gives its UART's
// registers.
type Console struct {
	Base         uintptr
	Status, Data uintptr // register offsets
	Full         uint32  // the Status bit: transmit FIFO full
}

// txSpins bounds the wait for room in the transmit FIFO. The guest owns
// the UART too: one that disables it leaves the FIFO full for ever, and
// Ferry's log must then be lost rather than wedge EL2 (and the management
// plane with it). Once a byte was dropped, later ones are dropped at once
// until the FIFO has room again.
const txSpins = 1 << 14

var (
	txStuck   atomic.Bool
	txDropped atomic.Uint64
)

// Tx writes c, or drops it (ConsoleDropped) if the FIFO stays full.
//
//go:nosplit
func (u *Console) Tx(c byte) {
	status := (*uint32)(unsafe.Pointer(u.Base + u.Status))
	spins := txSpins
	if txStuck.Load() {
		spins = 1
	}
	for i := 0; atomic.LoadUint32(status)&u.Full != 0; i++ {
		if i >= spins {
			txStuck.Store(true)
			txDropped.Add(1)
			return
		}
	}
	txStuck.Store(false)
	atomic.StoreUint32((*uint32)(unsafe.Pointer(u.Base+u.Data)), uint32(c))
}

// ConsoleDropped is how many bytes of Ferry's log were dropped because
// the UART's transmit FIFO stayed full.
func ConsoleDropped() uint64 { return txDropped.Load() }
