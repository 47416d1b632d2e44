// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package mmio

import (
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Forward is a Device that performs each access on the real device
// registers at a physical base, which Ferry's EL2 identity map maps as
// Device memory: one load or store of exactly the access's width (64- and
// 32-bit through sync/atomic, 16- and 8-bit through a pointer in a
// function of its own, so the compiler neither splits nor merges them).
//
// A misaligned access, or one running past the region, would fault at EL2
// (Device memory does not allow unaligned accesses): it reads as zero, is
// ignored, and is logged once.
type Forward struct {
	// Log, if set, receives a line the first time a bad access is seen.
	Log func(string)

	base   uintptr
	size   uint64
	logged bool
}

// NewForward forwards to the size bytes of registers at physical address base.
func NewForward(base, size uint64) *Forward { return &Forward{base: uintptr(base), size: size} }

func (f *Forward) ok(off uint64, size int, write bool) bool {
	n := uint64(size)
	if (n == 1 || n == 2 || n == 4 || n == 8) && off%n == 0 && off < f.size && f.size-off >= n {
		return true
	}
	if !f.logged && f.Log != nil {
		f.logged = true
		f.Log(fmt.Sprintf("mmio: %d-byte access (write %v) at %#x+%#x is misaligned or outside the %#x-byte region: ignored (reported once)",
			size, write, f.base, off, f.size))
	}
	return false
}

// Read loads size bytes at off.
func (f *Forward) Read(off uint64, size int) uint64 {
	if !f.ok(off, size, false) {
		return 0
	}
	p := f.base + uintptr(off)
	switch size {
	case 1:
		return uint64(load8(p))
	case 2:
		return uint64(load16(p))
	case 4:
		return uint64(atomic.LoadUint32((*uint32)(unsafe.Pointer(p))))
	}
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(p)))
}

// Write stores the low size bytes of v at off.
func (f *Forward) Write(off uint64, size int, v uint64) {
	if !f.ok(off, size, true) {
		return
	}
	p := f.base + uintptr(off)
	switch size {
	case 1:
		store8(p, uint8(v))
	case 2:
		store16(p, uint16(v))
	case 4:
		atomic.StoreUint32((*uint32)(unsafe.Pointer(p)), uint32(v))
	default:
		atomic.StoreUint64((*uint64)(unsafe.Pointer(p)), v)
	}
}

//go:noinline
func load8(p uintptr) uint8 { return *(*uint8)(unsafe.Pointer(p)) }

//go:noinline
func load16(p uintptr) uint16 { return *(*uint16)(unsafe.Pointer(p)) }

//go:noinline
func store8(p uintptr, v uint8) { *(*uint8)(unsafe.Pointer(p)) = v }

//go:noinline
func store16(p uintptr, v uint16) { *(*uint16)(unsafe.Pointer(p)) = v }
