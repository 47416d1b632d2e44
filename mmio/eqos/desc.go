// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The EQOS's normal descriptors (DWC Ethernet QoS 5.10a databook,
// "Transmit Normal Descriptor", "Receive Normal Descriptor", read and
// write-back formats; Linux's dwmac4_descs.h): four 32-bit little-endian
// words, 16 bytes, contiguous in the ring (DMA_CH0_Control.DSL = 0, and
// DMA_CH0_Tx_Control.EDSE = 0: no enhanced 32-byte descriptors, which
// Linux's stmmac takes only for time-based scheduling).
//
// What the device takes from a descriptor it owns is, for a transmit
// descriptor, one or two buffers to read (buffer 1 at TDES0, and TDES1
// its high bits with EAME; without EAME TDES1 is buffer 2's address; each
// length in TDES2), unless it is a context descriptor (TDES3.CTXT: no
// buffer); for a receive descriptor, one or two buffers to write, each of
// DMA_CH0_Rx_Control.RBSZ bytes (buffer 1 at RDES0, its high bits in
// RDES1 with EAME; buffer 2 at RDES2, its high bits in RDES3's low bits
// with EAME), valid as RDES3.BUF1V and BUF2V say.
const (
	DescSize = 16

	// TDES2 (read format).
	TDES2Len1Mask  = 0x3fff // buffer 1's length
	TDES2Len2Shift = 16     // buffer 2's length, 14 bits
	TDES2IOC       = 1 << 31
	// TDES3, both formats.
	TDES3OWN  = 1 << 31
	TDES3CTXT = 1 << 30
	TDES3FD   = 1 << 29
	TDES3LD   = 1 << 28

	// RDES3, read format.
	RDES3OWN   = 1 << 31
	RDES3IOC   = 1 << 30
	RDES3BUF2V = 1 << 25
	RDES3BUF1V = 1 << 24
	// rdes3Buf2HiMask is buffer 2's high address bits in RDES3 with EAME
	// (16 bits: a 48-bit address; a 40-bit device ignores the upper 8,
	// and an address with them set is far above guest RAM).
	rdes3Buf2HiMask = 0xffff
	// RDES3, write-back format.
	RDES3CTXT     = 1 << 30
	RDES3FD       = 1 << 29
	RDES3LD       = 1 << 28
	RDES3ES       = 1 << 15
	RDES3PLMask   = 0x7fff
	tdes2LenMask  = 0x3fff
	spanAlignment = 64
)

// desc is a descriptor's four words.
type desc [4]uint32

func getDesc(b []byte) desc {
	return desc{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])}
}

// Errors a descriptor check reports (the ring then stops).
var (
	ErrRange = errors.New("eqos: a buffer outside guest RAM")
	ErrShape = errors.New("eqos: a descriptor the relay does not take")
)

// buffer is a buffer of guest RAM a descriptor gives the device.
type buffer struct{ addr, size uint64 }

// span is the range a buffer of n bytes at addr is checked as: rounded
// out to 64 bytes, so that a device that moves whole bus beats or cache
// lines stays inside it too. Guest RAM's edges are page-aligned, so a
// buffer inside guest RAM always passes.
func span(addr, n uint64) (uint64, uint64) {
	lo := addr &^ (spanAlignment - 1)
	hi := (addr + n + spanAlignment - 1) &^ (spanAlignment - 1)
	return lo, hi - lo
}

// checker checks a descriptor's buffers against guest RAM.
type checker struct {
	inRAM func(addr, size uint64) bool
	eame  bool   // the device reads addresses in the enhanced mode
	rbsz  uint64 // receive buffers' size
}

func (c checker) check(what string, addr, n uint64) error {
	lo, size := span(addr, n)
	if addr+n < addr || lo+size < lo || !c.inRAM(lo, size) {
		return fmt.Errorf("%w: %s [%#x+%#x]", ErrRange, what, addr, n)
	}
	return nil
}

// tx checks a transmit descriptor the guest gave the device (OWN set)
// and returns what the device is to read instead: the same words, its
// address words holding exactly the buffers checked (an unused one 0).
func (c checker) tx(d desc) (desc, error) {
	if d[3]&TDES3CTXT != 0 {
		return d, nil // a context descriptor: no buffer
	}
	len1, len2 := uint64(d[2]&TDES2Len1Mask), uint64(d[2]>>TDES2Len2Shift&tdes2LenMask)
	addr1 := uint64(d[0])
	if c.eame {
		addr1 |= uint64(d[1]) << 32
	}
	s := d
	s[0], s[1] = 0, 0
	if len1 > 0 {
		if err := c.check("transmit buffer 1", addr1, len1); err != nil {
			return desc{}, err
		}
		s[0] = uint32(addr1)
		if c.eame {
			s[1] = uint32(addr1 >> 32)
		}
	}
	if len2 > 0 {
		if c.eame {
			return desc{}, fmt.Errorf("%w: a transmit buffer 2 (%d bytes) with enhanced addressing, whose TDES1 is buffer 1's high address", ErrShape, len2)
		}
		if err := c.check("transmit buffer 2", uint64(d[1]), len2); err != nil {
			return desc{}, err
		}
		s[1] = d[1]
	}
	return s, nil
}

// rx checks a receive descriptor the guest gave the device (OWN set) and
// returns what the device is to read instead, built from the buffers
// checked alone (OWN, IOC, BUF1V, BUF2V and their addresses; every other
// bit is reserved in the read format), and the buffers.
func (c checker) rx(d desc) (desc, [2]buffer, error) {
	var s desc
	var bufs [2]buffer
	if d[3]&(RDES3BUF1V|RDES3BUF2V) != 0 && c.rbsz == 0 {
		return desc{}, bufs, fmt.Errorf("%w: receive buffers with RBSZ 0", ErrShape)
	}
	s[3] = d[3] & (RDES3OWN | RDES3IOC | RDES3BUF1V | RDES3BUF2V)
	if d[3]&RDES3BUF1V != 0 {
		addr := uint64(d[0])
		if c.eame {
			addr |= uint64(d[1]) << 32
		}
		if err := c.check("receive buffer 1", addr, c.rbsz); err != nil {
			return desc{}, bufs, err
		}
		s[0] = uint32(addr)
		if c.eame {
			s[1] = uint32(addr >> 32)
		}
		bufs[0] = buffer{addr, c.rbsz}
	}
	if d[3]&RDES3BUF2V != 0 {
		addr := uint64(d[2])
		if c.eame {
			addr |= uint64(d[3]&rdes3Buf2HiMask) << 32
		}
		if err := c.check("receive buffer 2", addr, c.rbsz); err != nil {
			return desc{}, bufs, err
		}
		s[2] = uint32(addr)
		if c.eame {
			s[3] |= uint32(addr>>32) & rdes3Buf2HiMask
		}
		bufs[1] = buffer{addr, c.rbsz}
	}
	return s, bufs, nil
}
