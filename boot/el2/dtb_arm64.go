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

// ReadDTB copies the firmware's DTB at addr and parses it. hint says how
// the board's firmware should have put it there, for the error.
func ReadDTB(addr uintptr, hint string) ([]byte, *dtb.Board, error) {
	hdr := unsafe.Slice((*byte)(unsafe.Pointer(addr)), 8)
	if m := binary.BigEndian.Uint32(hdr); m != fdtMagic {
		return nil, nil, fmt.Errorf("no device tree at %#x (magic %#x): %s", addr, m, hint)
	}
	size := binary.BigEndian.Uint32(hdr[4:])
	if size > fdtMaxSize {
		return nil, nil, fmt.Errorf("device tree at %#x claims %d bytes (limit %d)", addr, size, fdtMaxSize)
	}
	blob := make([]byte, size)
	copy(blob, unsafe.Slice((*byte)(unsafe.Pointer(addr)), size))
	b, err := dtb.Parse(blob)
	if err != nil {
		return nil, nil, fmt.Errorf("firmware device tree: %w", err)
	}
	return blob, b, nil
}
