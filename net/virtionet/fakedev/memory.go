// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package fakedev

import (
	"fmt"
	"sync"
)

// Memory is the fake physical memory the driver allocates DMA buffers from
// (virtionet.DMA) and the device reads and writes through bus addresses.
type Memory struct {
	mu      sync.Mutex
	next    uint64
	regions []region
}

type region struct {
	pa  uint64
	buf []byte
}

// memBase is where the fake bus addresses start (like QEMU virt's RAM).
const memBase = 0x4000_0000

// NewMemory returns empty memory.
func NewMemory() *Memory { return &Memory{next: memBase} }

// Alloc implements virtionet.DMA.
func (m *Memory) Alloc(size, align int) ([]byte, uint64, error) {
	if size <= 0 || align <= 0 || align&(align-1) != 0 {
		return nil, 0, fmt.Errorf("fakedev: bad allocation of %d bytes aligned to %d", size, align)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	pa := (m.next + uint64(align) - 1) &^ (uint64(align) - 1)
	// Back the region with memory at least as aligned as the bus address
	// claims, so 32-bit atomics on it are aligned on the host too.
	raw := make([]byte, size+align)
	off := 0
	for (uintptrOf(raw[off:]))%uintptr(align) != 0 {
		off++
	}
	buf := raw[off : off+size : off+size]
	m.regions = append(m.regions, region{pa, buf})
	m.next = pa + uint64(size) + 64 // a gap catches overruns into the next region
	return buf, pa, nil
}

// At returns the n bytes at bus address pa, or nil if they are not inside
// one allocation.
func (m *Memory) At(pa uint64, n int) []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range m.regions {
		if pa >= r.pa && pa+uint64(n) <= r.pa+uint64(len(r.buf)) {
			off := pa - r.pa
			return r.buf[off : off+uint64(n) : off+uint64(n)]
		}
	}
	return nil
}
