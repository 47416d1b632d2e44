// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"errors"
	"testing"
)

func TestTCREL2(t *testing.T) {
	// T0SZ 25 = 0x19, IRGN0 1<<8, ORGN0 1<<10, SH0 3<<12, TG0 0,
	// PS 2<<16, RES1 1<<23 and 1<<31.
	for _, want := range []uint64{0x80823519, 0x19 | 1<<8 | 1<<10 | 3<<12 | 2<<16 | 1<<23 | 1<<31} {
		if TCREL2 != want {
			t.Errorf("TCREL2 = %#x, want %#x", TCREL2, want)
		}
	}
	if MAIREL2 != 0x44<<16|0xff<<8 {
		t.Errorf("MAIREL2 = %#x, want 0x44ff00", MAIREL2)
	}
}

func TestVTCR(t *testing.T) {
	for _, tc := range []struct {
		ipaBits int
		ps      uint64
		want    uint64
	}{
		// T0SZ 24 | SL0 1<<6 | IRGN0 1<<8 | ORGN0 1<<10 | SH0 3<<12 | PS 2<<16 | 1<<31
		{40, 0b010, 0x80023558},
		{39, 0b010, 0x80023559},
		{32, 0b000, 0x80003560},
		{40, 0b101, 0x80053558},
		{40, 0b1010, 0x80023558}, // PS is three bits
	} {
		a := newTestArena(t, 2)
		s, err := NewStage2(a, tc.ipaBits)
		if err != nil {
			t.Fatal(err)
		}
		got := s.VTCR(tc.ps)
		if got != tc.want {
			t.Errorf("VTCR(%d bits, PS %#b) = %#x, want %#x", tc.ipaBits, tc.ps, got, tc.want)
		}
		fields := []struct {
			name       string
			shift, len uint
			want       uint64
		}{
			{"T0SZ", 0, 6, uint64(64 - tc.ipaBits)},
			{"SL0", 6, 2, 1},
			{"IRGN0", 8, 2, 1},
			{"ORGN0", 10, 2, 1},
			{"SH0", 12, 2, 3},
			{"TG0", 14, 2, 0},
			{"PS", 16, 3, tc.ps & 7},
			{"bit 31", 31, 1, 1},
		}
		for _, f := range fields {
			if v := got >> f.shift & (1<<f.len - 1); v != f.want {
				t.Errorf("VTCR(%d bits): %s = %#x, want %#x", tc.ipaBits, f.name, v, f.want)
			}
		}
	}
}

func TestPARangeBits(t *testing.T) {
	for _, tc := range []struct {
		mmfr0 uint64
		want  int
	}{
		{0b0000, 32}, {0b0001, 36}, {0b0010, 40}, {0b0011, 42},
		{0b0100, 44}, {0b0101, 48}, {0b0110, 52},
		{0x0000_0000_0011_2122, 40}, // only bits [3:0] count
		{0b0111, 0}, {0b1111, 0},
	} {
		got, err := PARangeBits(tc.mmfr0)
		if tc.want == 0 {
			if !errors.Is(err, ErrArgument) {
				t.Errorf("PARangeBits(%#x) = %d, %v; want an error", tc.mmfr0, got, err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("PARangeBits(%#x) = %d, %v; want %d", tc.mmfr0, got, err, tc.want)
		}
	}
}
