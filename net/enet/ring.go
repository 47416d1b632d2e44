// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Legacy buffer descriptors (IMX8MPRM, ENET "Legacy buffer descriptors";
// ECR.EN1588 clear, ECR.DBSWP set: little-endian): 8 bytes, the data
// length in bytes 0-1, the status and control bits in bytes 2-3, the
// buffer's 32-bit bus address in bytes 4-7. A ring is contiguous; the
// last descriptor has the wrap bit.
const (
	descSize  = 8
	descAlign = 64 // RDSR/TDSR need 8; a cache line keeps rings apart
	bufAlign  = 64 // the AVB ENETs want receive buffers 64-byte aligned

	// Receive status (ENET "Receive buffer descriptor field definitions").
	rxEmpty = 1 << 15 // the buffer is the MAC's to fill
	rxWrap  = 1 << 13 // last descriptor of the ring
	rxLast  = 1 << 11 // last buffer of a frame: length is the frame's
	rxMiss  = 1 << 8  // promiscuous miss
	rxLG    = 1 << 5  // frame longer than RCR.MAX_FL
	rxNO    = 1 << 4  // non-octet-aligned frame
	rxSH    = 1 << 3  // short frame
	rxCR    = 1 << 2  // CRC or frame error
	rxOV    = 1 << 1  // FIFO overrun
	rxTR    = 1 << 0  // truncated (longer than FTRL)

	rxErrors = rxLG | rxNO | rxSH | rxCR | rxOV | rxTR

	// Transmit control and status (ENET "Transmit buffer descriptor
	// field definitions").
	txReady = 1 << 15 // the buffer is the MAC's to send
	txWrap  = 1 << 13
	txLast  = 1 << 11 // last buffer of the frame
	txTC    = 1 << 10 // append the CRC
)

// ring is a descriptor ring and its buffers, buffer i always with
// descriptor i. Descriptor word 0 -- length and status -- is read and
// written in one 32-bit access, so the MAC sees both or neither.
type ring struct {
	name  string
	desc  []byte
	pa    uint64
	bufs  [][]byte
	bufPA []uint64
	n     int
}

func newRing(dma DMA, name string, n, bufSize int) (*ring, error) {
	desc, pa, err := dma.Alloc(n*descSize, descAlign)
	if err != nil {
		return nil, fmt.Errorf("%s ring: %w", name, err)
	}
	r := &ring{name: name, desc: desc, pa: pa, n: n, bufs: make([][]byte, n), bufPA: make([]uint64, n)}
	for i := range n {
		if r.bufs[i], r.bufPA[i], err = dma.Alloc(bufSize, bufAlign); err != nil {
			return nil, fmt.Errorf("%s buffer %d: %w", name, i, err)
		}
		binary.LittleEndian.PutUint32(desc[i*descSize+4:], uint32(r.bufPA[i]))
	}
	return r, nil
}

func (r *ring) word0(i int) *uint32 {
	return (*uint32)(unsafe.Pointer(&r.desc[i*descSize]))
}

// load reads descriptor i's length and status.
func (r *ring) load(i int) (length, status uint16) {
	w := atomic.LoadUint32(r.word0(i))
	return uint16(w), uint16(w >> 16)
}

// store writes descriptor i's length and status; the wrap bit is added on
// the last descriptor.
func (r *ring) store(i int, length, status uint16) {
	if i == r.n-1 {
		status |= rxWrap // the same bit as txWrap
	}
	atomic.StoreUint32(r.word0(i), uint32(status)<<16|uint32(length))
}

func (r *ring) next(i int) int {
	if i++; i == r.n {
		return 0
	}
	return i
}
