// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package link

import (
	"errors"
	"net"
)

// Device is a NIC driver the Endpoint runs: it owns a fixed set of
// transmit and receive buffers shared with its hardware. The Endpoint
// serialises every call but Interrupt, which the interrupt path makes
// between goroutines (see Interrupt).
type Device interface {
	// MAC is the device's MAC address.
	MAC() net.HardwareAddr
	// MaxFrame is the largest Ethernet frame, header included, that its
	// buffers carry.
	MaxFrame() int
	// Transmit copies one frame, given as consecutive pieces, into a
	// transmit buffer and posts it; the hardware sees it after Flush. A
	// frame longer than MaxFrame is dropped and counted (an error);
	// ErrQueueFull means no buffer is free (Reclaim, then retry).
	Transmit(pieces ...[]byte) error
	// Flush hands the frames posted by Transmit to the hardware.
	Flush()
	// Reclaim takes back the transmit buffers the hardware has sent and
	// returns how many.
	Reclaim() int
	// Receive hands up to max received frames to deliver, in order, and
	// gives their buffers back to the hardware; frame is valid only
	// during the call. It returns how many buffers it took (frames
	// delivered and frames dropped).
	Receive(max int, deliver func(frame []byte)) int
	// Interrupt takes the device's interrupt: it acknowledges it at the
	// device and holds further ones back until Arm. It returns the
	// device's status bits, 0 if the interrupt was not the device's. It
	// takes no lock: it is called only where no goroutine can be inside
	// the device (Ferry's interrupt paths run between goroutines on its
	// one CPU).
	Interrupt() uint32
	// Arm lets the device interrupt when a frame arrives (and, with
	// txWait, when a transmit buffer comes back), and reports whether
	// work is already there, which the device may never interrupt for:
	// the caller polls again instead of sleeping.
	Arm(txWait bool) (work bool)
	// Idle is called when a Poll moved nothing: the device may look at
	// its health now and then (a register read is costly under
	// emulation, so not every time).
	Idle()
	// Stats are its counters.
	Stats() Stats
	// Err is the error that stopped it, nil while it runs. A stopped
	// device moves no more frames.
	Err() error
}

// ErrQueueFull is returned by Device.Transmit when every transmit buffer is
// with the hardware.
var ErrQueueFull = errors.New("link: transmit queue full")

// Stats count a device's traffic. Bytes are Ethernet frame bytes (header
// included, no device header or CRC).
type Stats struct {
	RxFrames, RxBytes uint64
	TxFrames, TxBytes uint64
	// RxDrops counts frames received but not delivered (runt, damaged,
	// too large, or no consumer); TxDrops frames not sent (too large, or
	// no room).
	RxDrops, TxDrops uint64
	// RxNotifies and TxNotifies count the doorbell writes that tell the
	// hardware about new buffers (each a register write, costly under
	// emulation).
	RxNotifies, TxNotifies uint64
}
