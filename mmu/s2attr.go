// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "fmt"

// S2Attr is the kind of a stage-2 mapping: its memory type, shareability
// and permissions.
type S2Attr uint8

const (
	// S2Normal is RAM: MemAttr 0b1111 (Normal, Outer and Inner Write-Back
	// Cacheable), Inner Shareable, S2AP read/write, executable.
	S2Normal S2Attr = iota
	// S2Device is MMIO: MemAttr 0b0001 (Device-nGnRE), S2AP read/write,
	// execute never.
	S2Device
)

// Stage 2 block and page descriptor attribute fields (ARM ARM D8.3; the
// encodings are in D8 "Stage 2 memory type and Cacheability attributes"
// and "Stage 2 data access permissions", without FEAT_S2FWB).
const (
	s2MemAttrShift              = 2 // MemAttr[3:0], bits [5:2]
	s2MemAttrMask        uint64 = 0b1111 << s2MemAttrShift
	s2MemAttrNormalWB    uint64 = 0b1111 // [3:2] Outer WB, [1:0] Inner WB
	s2MemAttrDeviceNGnRE uint64 = 0b0001 // [3:2] Device, [1:0] nGnRE
	s2APShift                   = 6      // S2AP[1:0], bits [7:6]
	s2APMask             uint64 = 0b11 << s2APShift
	s2APReadOnly         uint64 = 0b01
	s2APReadWrite        uint64 = 0b11
	s2APWrite            uint64 = 0b10 << s2APShift // S2AP[1]: writes allowed
)

// desc returns the leaf attribute bits for the mapping kind.
func (t S2Attr) desc() (uint64, error) {
	rw := s2APReadWrite << s2APShift
	switch t {
	case S2Normal:
		return s2MemAttrNormalWB<<s2MemAttrShift | rw | shInner<<descSHShift | descAF, nil
	case S2Device:
		return s2MemAttrDeviceNGnRE<<s2MemAttrShift | rw | descAF | descXN, nil
	}
	return 0, fmt.Errorf("%w: stage 2 attribute %d", ErrArgument, t)
}

func (t S2Attr) String() string {
	switch t {
	case S2Normal:
		return "Normal"
	case S2Device:
		return "Device"
	}
	return fmt.Sprintf("S2Attr(%d)", uint8(t))
}

// s2AttrOf decodes the mapping kind of a leaf descriptor.
func s2AttrOf(d uint64) S2Attr {
	if (d&s2MemAttrMask)>>s2MemAttrShift == s2MemAttrNormalWB {
		return S2Normal
	}
	return S2Device
}

// withS2AP returns leaf d with its access permissions set to ap.
func withS2AP(d, ap uint64) uint64 { return d&^s2APMask | ap<<s2APShift }
