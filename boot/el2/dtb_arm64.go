// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/dtb"
)

// fdtMagic and fdtMaxSize bound what is accepted as a DTB (Devicetree
// Specification 5.2, "Header").
const (
	fdtMagic   = 0xd00dfeed
	fdtMaxSize = 2 << 20
)

// ReadDTB copies the firmware's DTB at addr and parses it. It must lie
// outside [imageBase, carveOutEnd), Ferry's image and the memory its
// runtime takes. hint says how the board's firmware should have put it
// there, for the error.
func ReadDTB(addr uintptr, imageBase, carveOutEnd uint64, hint string) ([]byte, *dtb.Board, error) {
	if addr%8 != 0 {
		return nil, nil, fmt.Errorf("device tree at %#x is not 8-byte aligned: %s", addr, hint)
	}
	hdr := unsafe.Slice((*byte)(unsafe.Pointer(addr)), 8)
	if m := binary.BigEndian.Uint32(hdr); m != fdtMagic {
		return nil, nil, fmt.Errorf("no device tree at %#x (magic %#x): %s", addr, m, hint)
	}
	size := binary.BigEndian.Uint32(hdr[4:])
	if size > fdtMaxSize {
		return nil, nil, fmt.Errorf("device tree at %#x claims %d bytes (limit %d)", addr, size, fdtMaxSize)
	}
	if end := uint64(addr) + uint64(size); end > imageBase && uint64(addr) < carveOutEnd {
		return nil, nil, fmt.Errorf("device tree [%#x, %#x) overlaps Ferry's image and carve-out [%#x, %#x): %s", addr, end, imageBase, carveOutEnd, hint)
	}
	blob := make([]byte, size)
	copy(blob, unsafe.Slice((*byte)(unsafe.Pointer(addr)), size))
	b, err := dtb.Parse(blob)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware device tree: %w", err)
	}
	return blob, b, nil
}
