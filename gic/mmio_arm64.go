// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package gic

import (
	"sync/atomic"
	"unsafe"
)

// MMIO is a GIC register frame at its physical address, which Ferry's EL2
// identity map maps as Device memory. Accesses are single loads and stores
// of the exact width; offsets outside the frame or misaligned read as zero
// and ignore writes (the Guard never passes them, but a bad offset must not
// fault at EL2).
type MMIO struct {
	base uintptr
	size uint64
}

// NewMMIO returns the frame of size bytes at physical address base (e.g.
// the DTB's GICD, or GICR with size 0x20000 for RD_base and SGI_base).
func NewMMIO(base, size uint64) *MMIO { return &MMIO{base: uintptr(base), size: size} }

func (m *MMIO) ok(off uint64, n uint64) bool {
	return off%n == 0 && off < m.size && m.size-off >= n
}

func (m *MMIO) Read32(off uint64) uint32 {
	if !m.ok(off, 4) {
		return 0
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(m.base + uintptr(off))))
}

func (m *MMIO) Write32(off uint64, v uint32) {
	if m.ok(off, 4) {
		atomic.StoreUint32((*uint32)(unsafe.Pointer(m.base+uintptr(off))), v)
	}
}

func (m *MMIO) Read64(off uint64) uint64 {
	if !m.ok(off, 8) {
		return 0
	}
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(m.base + uintptr(off))))
}

func (m *MMIO) Write64(off uint64, v uint64) {
	if m.ok(off, 8) {
		atomic.StoreUint64((*uint64)(unsafe.Pointer(m.base+uintptr(off))), v)
	}
}
