// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package guest

import (
	"encoding/binary"
	"fmt"
)

// ImageMagic is "ARM\x64" at offset 56 of an arm64 Linux Image
// (Documentation/arch/arm64/booting.rst, "Call the kernel image").
const ImageMagic = 0x644d5241

// ImageHeaderSize is the size of the arm64 Image header.
const ImageHeaderSize = 64

// ImageHeader is the header of an arm64 Linux Image.
type ImageHeader struct {
	TextOffset uint64 // offset from a 2 MiB aligned base at which to place the Image
	ImageSize  uint64 // bytes the kernel occupies from its start, BSS included
	Flags      uint64 // bit 0 big-endian, bits 1-2 page size, bit 3 physical placement
}

// ParseImageHeader decodes and checks the header at the start of b.
func ParseImageHeader(b []byte) (ImageHeader, error) {
	if len(b) < ImageHeaderSize {
		return ImageHeader{}, fmt.Errorf("kernel image: header truncated (%d bytes)", len(b))
	}
	if m := binary.LittleEndian.Uint32(b[56:]); m != ImageMagic {
		return ImageHeader{}, fmt.Errorf("kernel image: no arm64 Image magic at offset 56 (found %#x): is it an uncompressed arm64 Image?", m)
	}
	h := ImageHeader{
		TextOffset: binary.LittleEndian.Uint64(b[8:]),
		ImageSize:  binary.LittleEndian.Uint64(b[16:]),
		Flags:      binary.LittleEndian.Uint64(b[24:]),
	}
	if h.ImageSize == 0 {
		return ImageHeader{}, fmt.Errorf("kernel image: image_size is 0 (kernel older than 3.17 is not supported)")
	}
	if h.Flags&1 != 0 {
		return ImageHeader{}, fmt.Errorf("kernel image: big-endian kernels are not supported")
	}
	return h, nil
}
