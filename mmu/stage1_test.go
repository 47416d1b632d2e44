// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"errors"
	"github.com/ferry-hv/ferry/phys"
	"testing"
)

// EL2 stage-1 block encodings by hand (ARM ARM D8.3): block 0b01,
// AttrIndx [4:2], AP [7:6] = 0b01, SH [9:8], AF [10], XN [54].
const (
	rawS1Normal = 0b01 | 1<<2 | 0b01<<6 | 0b11<<8 | 1<<10 // 0x745
	rawS1Device = 0b01 | 0<<2 | 0b01<<6 | 1<<10 | 1<<54   // 0x441 | XN
)

func TestIdentityEL2(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ram    []phys.Range
		normal [][2]int // [first, last] 1 GiB regions that are Normal
	}{
		{"board", []phys.Range{{0x4800_0000, 0x3800_0000}}, [][2]int{{1, 1}}},
		{"none", nil, nil},
		{"2 GiB at 2 GiB", []phys.Range{{0x8000_0000, 0x8000_0000}}, [][2]int{{2, 3}}},
		{"straddles", []phys.Range{{0x7fff_f000, 0x2000}}, [][2]int{{1, 2}}},
		{"two banks", []phys.Range{{0x4000_0000, 0x1000}, {0x40_0000_0000, 0x40_0000_0000}}, [][2]int{{1, 1}, {256, 511}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := newTestArena(t, 2)
			root, err := IdentityEL2(a, tc.ram)
			if err != nil {
				t.Fatal(err)
			}
			if root != a.Base() || a.Used() != PageSize {
				t.Fatalf("root %#x, used %#x", root, a.Used())
			}
			normal := map[int]bool{}
			for _, r := range tc.normal {
				for i := r[0]; i <= r[1]; i++ {
					normal[i] = true
				}
			}
			for i := range 512 {
				want := uint64(i)<<30 | rawS1Device
				if normal[i] {
					want = uint64(i)<<30 | rawS1Normal
				}
				if d := a.Load(root, i); d != want {
					t.Errorf("entry %d = %#x, want %#x", i, d, want)
				}
			}
		})
	}
	for _, c := range [][2]uint64{{rawS1Normal, 0x745}, {rawS1Device, 0x0040_0000_0000_0441}} {
		if c[0] != c[1] {
			t.Errorf("hand encoding %#x, want %#x", c[0], c[1])
		}
	}
}

func TestIdentityEL2Errors(t *testing.T) {
	for _, tc := range []struct {
		name  string
		pages int
		ram   []phys.Range
		want  error
	}{
		{"empty range", 1, []phys.Range{{0x4000_0000, 0}}, ErrRange},
		{"beyond 39 bits", 1, []phys.Range{{1 << 39, PageSize}}, ErrRange},
		{"end beyond 39 bits", 1, []phys.Range{{1<<39 - PageSize, 2 * PageSize}}, ErrRange},
		{"wraps", 1, []phys.Range{{0x4000_0000, ^uint64(0)}}, ErrRange},
		{"no room", 0, nil, ErrExhausted},
	} {
		if _, err := IdentityEL2(newTestArena(t, tc.pages), tc.ram); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := IdentityEL2(nil, nil); !errors.Is(err, ErrArgument) {
		t.Errorf("nil arena: %v", err)
	}
}
