// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "fmt"

// Fields common to TCR_EL2 (with HCR_EL2.E2H = 0) and VTCR_EL2, which share
// this layout for the translations they control (ARM ARM register
// descriptions of TCR_EL2 and VTCR_EL2).
const (
	tcrT0SZShift  = 0  // T0SZ[5:0]: the input address size is 64-T0SZ bits
	tcrIRGN0Shift = 8  // IRGN0[9:8]: inner cacheability of table walks
	tcrORGN0Shift = 10 // ORGN0[11:10]: outer cacheability of table walks
	tcrSH0Shift   = 12 // SH0[13:12]: shareability of table walks
	tcrTG0Shift   = 14 // TG0[15:14]: granule size
	tcrPSShift    = 16 // PS[18:16]: physical (output) address size

	tcrPSMask  uint64 = 0b111
	tcrTG04K   uint64 = 0b00
	tcrPS40Bit uint64 = 0b010 // 40 bits, 1 TiB
	t0szBase          = 64    // T0SZ counts the top address bits that must be 0
)

// Register-specific bits.
const (
	vtcrSL0Shift         = 6    // VTCR_EL2.SL0[7:6]: starting level of the stage-2 walk
	vtcrSL0Level1 uint64 = 0b01 // with TG0 = 4 KiB: start at level 1
	vtcrRES1      uint64 = 1 << 31
	tcrEL2RES1    uint64 = 1<<31 | 1<<23 // TCR_EL2 (E2H = 0) RES1 bits
	paRangeMask   uint64 = 0b1111        // ID_AA64MMFR0_EL1.PARange, bits [3:0]
)

// TCREL2 is TCR_EL2 for the map IdentityEL2 builds: T0SZ 25 (39-bit VA,
// walk starting at level 1), IRGN0 and ORGN0 Write-Back Write-Allocate,
// SH0 Inner Shareable, TG0 4 KiB, PS 40 bits, RES1 bits 31 and 23.
const TCREL2 uint64 = (t0szBase-s1VABits)<<tcrT0SZShift |
	cacheWBWA<<tcrIRGN0Shift |
	cacheWBWA<<tcrORGN0Shift |
	shInner<<tcrSH0Shift |
	tcrTG04K<<tcrTG0Shift |
	tcrPS40Bit<<tcrPSShift |
	tcrEL2RES1

// VTCR returns the VTCR_EL2 value for these tables: T0SZ 64-ipaBits, SL0 1
// (level 1 start with the 4 KiB granule), IRGN0 and ORGN0 Write-Back
// Write-Allocate, SH0 Inner Shareable, TG0 4 KiB, PS = ps (a PARange
// encoding, as in ID_AA64MMFR0_EL1), and RES1 bit 31. VMID size, hardware
// access flag and dirty state management are left off.
func (s *Stage2) VTCR(ps uint64) uint64 {
	return uint64(t0szBase-s.ipaBits)<<tcrT0SZShift |
		vtcrSL0Level1<<vtcrSL0Shift |
		cacheWBWA<<tcrIRGN0Shift |
		cacheWBWA<<tcrORGN0Shift |
		shInner<<tcrSH0Shift |
		tcrTG04K<<tcrTG0Shift |
		(ps&tcrPSMask)<<tcrPSShift |
		vtcrRES1
}

// paRangeBits maps ID_AA64MMFR0_EL1.PARange encodings to physical address
// sizes in bits.
var paRangeBits = [...]int{
	0b0000: 32,
	0b0001: 36,
	0b0010: 40,
	0b0011: 42,
	0b0100: 44,
	0b0101: 48,
	0b0110: 52,
}

// PARangeBits returns the physical address size, in bits, that the PARange
// field (bits [3:0]) of ID_AA64MMFR0_EL1 value mmfr0 reports. The same
// encoding goes in VTCR_EL2.PS and TCR_EL2.PS.
func PARangeBits(mmfr0 uint64) (int, error) {
	pr := mmfr0 & paRangeMask
	if pr >= uint64(len(paRangeBits)) {
		return 0, fmt.Errorf("%w: unknown ID_AA64MMFR0_EL1.PARange %#b", ErrArgument, pr)
	}
	return paRangeBits[pr], nil
}
