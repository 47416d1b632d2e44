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

// Flags of the Image header (booting.rst, "Header notes").
const (
	FlagBigEndian = 1 << 0 // the kernel is big-endian
	FlagPage4K    = 1 << 1 // bits 1-2: page size 1 = 4K (2 = 16K, 3 = 64K, 0 unspecified)
	// FlagAnywhere (bit 3) set: the 2 MiB aligned base may be anywhere in
	// RAM; clear: as close to the base of DRAM as possible (U-Boot's booti
	// then places the Image at DRAM base + text_offset).
	FlagAnywhere = 1 << 3
)

// ImageHeader is the header of an arm64 Linux Image (booting.rst: code0,
// code1, text_offset, image_size, flags, res2-4 = 0, magic, res5).
type ImageHeader struct {
	Code0, Code1 uint32 // the Image's first two instructions: they lead to its entry
	TextOffset   uint64 // offset from a 2 MiB aligned base at which to place the Image
	ImageSize    uint64 // bytes the kernel occupies from its start, BSS included
	Flags        uint64 // bit 0 big-endian, bits 1-2 page size, bit 3 physical placement
}

// Put writes h as the first ImageHeaderSize bytes of b, with the magic and
// the reserved fields (res2-4, res5) zero.
func (h ImageHeader) Put(b []byte) {
	clear(b[:ImageHeaderSize])
	binary.LittleEndian.PutUint32(b[0:], h.Code0)
	binary.LittleEndian.PutUint32(b[4:], h.Code1)
	binary.LittleEndian.PutUint64(b[8:], h.TextOffset)
	binary.LittleEndian.PutUint64(b[16:], h.ImageSize)
	binary.LittleEndian.PutUint64(b[24:], h.Flags)
	binary.LittleEndian.PutUint32(b[56:], ImageMagic)
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
		Code0:      binary.LittleEndian.Uint32(b[0:]),
		Code1:      binary.LittleEndian.Uint32(b[4:]),
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
