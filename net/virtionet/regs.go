// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

// Regs is a virtio-mmio transport's register file (4.2.2). Offsets are
// relative to the transport's base address. Control registers are accessed
// 32 bits wide; the device-specific configuration space byte by byte
// (4.2.2.2: "the driver MUST use 8 bit wide accesses for 8 bit wide fields").
type Regs interface {
	Read32(off uint32) uint32
	Write32(off uint32, v uint32)
	Read8(off uint32) uint8
}

// DMA hands out memory the device can address.
type DMA interface {
	// Alloc returns size zeroed bytes aligned to align (a power of two)
	// in both address spaces, and their bus (physical) address. The
	// memory stays valid, and stays at that address, for the life of
	// the program.
	Alloc(size, align int) (buf []byte, pa uint64, err error)
}

// Device types (5 "Device Types").
const (
	DeviceIDNone    = 0 // the transport has no device behind it
	DeviceIDNetwork = 1
)
