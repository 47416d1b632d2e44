// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// Raw descriptor encodings, worked out by hand from ARM ARM D8.3 so that
// the tests do not share the package's constants.
const (
	rawType      = 0b11                  // bits [1:0]
	rawBlock     = 0b01                  // valid block
	rawTableType = 0b11                  // valid table (levels 1-2) / page (level 3)
	rawMemAttr   = 0b1111 << 2           // MemAttr bits [5:2]
	rawS2AP      = 0b11 << 6             // S2AP bits [7:6]
	rawSH        = 0b11 << 8             // SH bits [9:8]
	rawAF        = 1 << 10               // AF
	rawXN        = 1 << 54               // XN
	rawAddr      = 0x0000_ffff_ffff_f000 // bits [47:12]

	// Normal: MemAttr 1111, S2AP 11, SH 11, AF = 0x7fc.
	rawNormal = 0b1111<<2 | 0b11<<6 | 0b11<<8 | 1<<10
	// Device: MemAttr 0001, S2AP 11, SH 00, AF, XN = 0x4c4 | 1<<54.
	rawDevice = 0b0001<<2 | 0b11<<6 | 1<<10 | 1<<54
	rawRO     = 0b01 << 6 // S2AP read-only
)

func TestRawConstants(t *testing.T) {
	for _, c := range [][2]uint64{
		{rawNormal | rawBlock, 0x7fd},
		{rawNormal | rawTableType, 0x7ff},
		{rawDevice | rawBlock, 0x0040_0000_0000_04c5},
		{rawDevice | rawTableType, 0x0040_0000_0000_04c7},
		{rawNormal&^rawS2AP | rawRO | rawTableType, 0x77f},
	} {
		if c[0] != c[1] {
			t.Errorf("hand-computed encoding %#x, want %#x", c[0], c[1])
		}
	}
}

func newTestStage2(t testing.TB, pages, ipaBits int) (*Arena, *Stage2) {
	t.Helper()
	a := newTestArena(t, pages)
	s, err := NewStage2(a, ipaBits)
	if err != nil {
		t.Fatal(err)
	}
	return a, s
}

// rawWalk reads the descriptors the MMU would read for ipa, indexing the
// tables by hand: level 1 by IPA bits [ipaBits-1:30] (two concatenated
// tables for 40 bits), level 2 by [29:21], level 3 by [20:12]. It stops at
// the first descriptor that is not a table.
func rawWalk(t *testing.T, a *Arena, s *Stage2, ipa uint64) []uint64 {
	t.Helper()
	l1 := ipa >> 30
	descs := []uint64{a.Load(s.Root()+l1/512*PageSize, int(l1%512))}
	shifts := []uint{21, 12}
	for _, shift := range shifts {
		d := descs[len(descs)-1]
		if d&rawType != rawTableType {
			break
		}
		next := d & rawAddr
		if next < a.Base() || next >= a.Base()+a.Used() || next%PageSize != 0 {
			t.Fatalf("IPA %#x: table descriptor %#x points outside the arena", ipa, d)
		}
		if d&^(rawAddr|rawType) != 0 {
			t.Fatalf("IPA %#x: table descriptor %#x has attribute bits", ipa, d)
		}
		descs = append(descs, a.Load(next, int(ipa>>shift&511)))
	}
	return descs
}

// mapTestLayout maps the board-like layout the table tests check.
func mapTestLayout(t *testing.T, s *Stage2) {
	t.Helper()
	for _, m := range []struct {
		ipa, pa, size uint64
		attr          S2Attr
	}{
		{0x4800_0000, 0x4800_0000, 0x3800_0000, S2Normal},    // RAM, 448 2 MiB blocks
		{0x0800_0000, 0x0800_0000, 0x0400_0000, S2Device},    // device window, 32 blocks
		{0x1c09_0000, 0x1c09_0000, PageSize, S2Device},       // lone device page
		{0x2010_0000, 0x6010_0000, 0x0040_0000, S2Normal},    // pages, block, pages
		{0x1_0000_0000, 0x9000_1000, 0x0040_0000, S2Normal},  // pa not 2 MiB aligned: pages
		{0x80_0000_0000, 0xc000_0000, 0x0020_0000, S2Normal}, // second level-1 table
		{0xff_ffff_f000, 0x1_2345_6000, PageSize, S2Device},  // last IPA page
	} {
		if err := s.Map(m.ipa, m.pa, m.size, m.attr); err != nil {
			t.Fatalf("Map(%#x, %#x, %#x, %v): %v", m.ipa, m.pa, m.size, m.attr, err)
		}
	}
}

func TestStage2Layout(t *testing.T) {
	a, s := newTestStage2(t, 64, 40)
	mapTestLayout(t, s)
	for _, tc := range []struct {
		ipa    uint64
		pa     uint64
		attr   S2Attr
		level  int
		leaf   uint64 // expected raw leaf descriptor; 0: unmapped
		unused bool
	}{
		{ipa: 0x4800_0000, pa: 0x4800_0000, level: 2, leaf: 0x4800_0000 | rawNormal | rawBlock},
		{ipa: 0x4800_0123, pa: 0x4800_0123, level: 2, leaf: 0x4800_0000 | rawNormal | rawBlock},
		{ipa: 0x4a3f_f008, pa: 0x4a3f_f008, level: 2, leaf: 0x4a20_0000 | rawNormal | rawBlock},
		{ipa: 0x7fff_ffff, pa: 0x7fff_ffff, level: 2, leaf: 0x7fe0_0000 | rawNormal | rawBlock},
		{ipa: 0x47ff_f000},
		{ipa: 0x8000_0000},
		{ipa: 0x0800_0000, pa: 0x0800_0000, attr: S2Device, level: 2, leaf: 0x0800_0000 | rawDevice | rawBlock},
		{ipa: 0x0bff_fffc, pa: 0x0bff_fffc, attr: S2Device, level: 2, leaf: 0x0be0_0000 | rawDevice | rawBlock},
		{ipa: 0x0c00_0000},
		{ipa: 0x07ff_f000},
		{ipa: 0x1c09_0004, pa: 0x1c09_0004, attr: S2Device, level: 3, leaf: 0x1c09_0000 | rawDevice | rawTableType},
		{ipa: 0x1c08_f000},
		{ipa: 0x1c09_1000},
		{ipa: 0x2010_0000, pa: 0x6010_0000, level: 3, leaf: 0x6010_0000 | rawNormal | rawTableType},
		{ipa: 0x201f_f000, pa: 0x601f_f000, level: 3, leaf: 0x601f_f000 | rawNormal | rawTableType},
		{ipa: 0x2020_0000, pa: 0x6020_0000, level: 2, leaf: 0x6020_0000 | rawNormal | rawBlock},
		{ipa: 0x2040_0000, pa: 0x6040_0000, level: 3, leaf: 0x6040_0000 | rawNormal | rawTableType},
		{ipa: 0x204f_f000, pa: 0x604f_f000, level: 3, leaf: 0x604f_f000 | rawNormal | rawTableType},
		{ipa: 0x2050_0000},
		{ipa: 0x200f_f000},
		{ipa: 0x1_0000_0000, pa: 0x9000_1000, level: 3, leaf: 0x9000_1000 | rawNormal | rawTableType},
		{ipa: 0x1_003f_f000, pa: 0x9040_0000, level: 3, leaf: 0x9040_0000 | rawNormal | rawTableType},
		{ipa: 0x1_0040_0000},
		{ipa: 0x80_0000_0000, pa: 0xc000_0000, level: 2, leaf: 0xc000_0000 | rawNormal | rawBlock},
		{ipa: 0x80_0020_0000},
		{ipa: 0xff_ffff_f000, pa: 0x1_2345_6000, attr: S2Device, level: 3, leaf: 0x1_2345_6000 | rawDevice | rawTableType},
		{ipa: 0x40_0000_0000},
	} {
		t.Run(fmt.Sprintf("%#x", tc.ipa), func(t *testing.T) {
			pa, attr, writable, level, ok := s.Lookup(tc.ipa)
			descs := rawWalk(t, a, s, tc.ipa)
			leaf := descs[len(descs)-1]
			if tc.leaf == 0 {
				if ok || leaf&1 != 0 {
					t.Fatalf("mapped (pa %#x, level %d, raw %#x), want unmapped", pa, level, leaf)
				}
				return
			}
			if !ok || pa != tc.pa || attr != tc.attr || !writable || level != tc.level {
				t.Errorf("Lookup = %#x %v writable=%v level %d ok=%v; want %#x %v true %d true",
					pa, attr, writable, level, ok, tc.pa, tc.attr, tc.level)
			}
			if len(descs) != tc.level || leaf != tc.leaf {
				t.Errorf("raw walk %#x: leaf at level %d = %#x, want level %d %#x",
					descs, len(descs), leaf, tc.level, tc.leaf)
			}
			checkLeafFields(t, leaf, tc.attr, tc.level)
		})
	}
}

// checkLeafFields decodes a leaf field by field.
func checkLeafFields(t *testing.T, d uint64, attr S2Attr, level int) {
	t.Helper()
	wantType, wantMem, wantSH, wantXN := uint64(rawBlock), uint64(0b1111), uint64(0b11), uint64(0)
	if level == 3 {
		wantType = rawTableType
	}
	if attr == S2Device {
		wantMem, wantSH, wantXN = 0b0001, 0b00, 1
	}
	for _, f := range []struct {
		name      string
		got, want uint64
	}{
		{"type [1:0]", d & rawType, wantType},
		{"MemAttr [5:2]", d >> 2 & 0b1111, wantMem},
		{"S2AP [7:6]", d >> 6 & 0b11, 0b11},
		{"SH [9:8]", d >> 8 & 0b11, wantSH},
		{"AF [10]", d >> 10 & 1, 1},
		{"XN [54]", d >> 54 & 1, wantXN},
		{"bits [63:55]", d >> 55, 0},
		{"bits [53:48]", d >> 48 & 0x3f, 0},
	} {
		if f.got != f.want {
			t.Errorf("descriptor %#x: %s = %#b, want %#b", d, f.name, f.got, f.want)
		}
	}
}

func TestStage2LayoutShape(t *testing.T) {
	a, s := newTestStage2(t, 64, 40)
	mapTestLayout(t, s)
	blocks := 0
	for ipa := uint64(0x4800_0000); ipa < 0x8000_0000; ipa += 2 << 20 {
		if _, _, _, level, ok := s.Lookup(ipa); ok && level == 2 {
			blocks++
		}
	}
	if blocks != 448 {
		t.Errorf("RAM is in %d 2 MiB blocks, want 448", blocks)
	}
	// Root 2 pages; level-2 tables for GiB 0, 1, 4, 512, 1023; level-3
	// tables for 0x1c00_0000, 0x2000_0000, 0x2040_0000, two for GiB 4 and
	// one for the last page.
	if want := uint64(2+5+6) * PageSize; a.Used() != want {
		t.Errorf("arena used %#x, want %#x", a.Used(), want)
	}
	// 40-bit IPA: 0x80_0000_0000 is entry 0 of the second level-1 table.
	if d := a.Load(s.Root()+PageSize, 0); d&rawType != rawTableType {
		t.Errorf("second level-1 table entry 0 = %#x, want a table", d)
	}
	if d := a.Load(s.Root()+PageSize, 511); d&rawType != rawTableType {
		t.Errorf("second level-1 table entry 511 = %#x, want a table", d)
	}
	for _, i := range []int{0, 1, 4} {
		if d := a.Load(s.Root(), i); d&rawType != rawTableType {
			t.Errorf("first level-1 table entry %d = %#x, want a table", i, d)
		}
	}
	if d := a.Load(s.Root(), 2); d != 0 {
		t.Errorf("first level-1 table entry 2 = %#x, want 0", d)
	}
}

func TestNewStage2(t *testing.T) {
	for _, tc := range []struct {
		ipaBits   int
		rootPages uint64
	}{{32, 1}, {33, 1}, {36, 1}, {39, 1}, {40, 2}} {
		a := newTestArena(t, 8)
		if _, err := a.Alloc(1, PageSize); err != nil { // make the next page misaligned for 8 KiB
			t.Fatal(err)
		}
		s, err := NewStage2(a, tc.ipaBits)
		if err != nil {
			t.Fatalf("%d bits: %v", tc.ipaBits, err)
		}
		align := tc.rootPages * PageSize
		if s.Root()%align != 0 || a.Used() != s.Root()-a.Base()+align {
			t.Errorf("%d bits: root %#x, used %#x; want %#x aligned, %d pages", tc.ipaBits, s.Root(), a.Used(), align, tc.rootPages)
		}
		// The last IPA page maps and lands in the last root entry.
		last := uint64(1)<<tc.ipaBits - PageSize
		if err := s.Map(last, 0x4000_0000, PageSize, S2Normal); err != nil {
			t.Errorf("%d bits: map last page: %v", tc.ipaBits, err)
		}
		entries := uint64(1) << (tc.ipaBits - 30)
		if d := a.Load(s.Root()+(entries-1)/512*PageSize, int((entries-1)%512)); d&rawType != rawTableType {
			t.Errorf("%d bits: last root entry %#x", tc.ipaBits, d)
		}
		if pa, _, _, _, ok := s.Lookup(last); !ok || pa != 0x4000_0000 {
			t.Errorf("%d bits: Lookup(last) = %#x %v", tc.ipaBits, pa, ok)
		}
		if err := s.Map(last+PageSize, 0x4000_0000, PageSize, S2Normal); !errors.Is(err, ErrRange) {
			t.Errorf("%d bits: map past the end: %v", tc.ipaBits, err)
		}
		if _, _, _, _, ok := s.Lookup(last + PageSize); ok {
			t.Errorf("%d bits: Lookup past the end is ok", tc.ipaBits)
		}
	}
}

func TestNewStage2Errors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pages   int
		ipaBits int
		want    error
	}{
		{"31 bits", 4, 31, ErrArgument},
		{"41 bits", 4, 41, ErrArgument},
		{"no room for two tables", 1, 40, ErrExhausted},
		{"no room", 0, 32, ErrExhausted},
	} {
		if _, err := NewStage2(newTestArena(t, tc.pages), tc.ipaBits); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := NewStage2(nil, 40); !errors.Is(err, ErrArgument) {
		t.Errorf("nil arena: %v", err)
	}
}

func TestMapErrors(t *testing.T) {
	for _, tc := range []struct {
		name          string
		ipa, pa, size uint64
		attr          S2Attr
		want          error
		addr          string // must appear in the message
	}{
		{"ipa unaligned", 0x4000_0800, 0x4000_0000, PageSize, S2Normal, ErrAlign, "0x40000800"},
		{"pa unaligned", 0x4000_0000, 0x4000_0010, PageSize, S2Normal, ErrAlign, "0x40000010"},
		{"size unaligned", 0x4000_0000, 0x4000_0000, 0x1800, S2Normal, ErrAlign, ""},
		{"empty", 0x4000_0000, 0x4000_0000, 0, S2Normal, ErrRange, ""},
		{"ipa out of range", 1 << 40, 0x4000_0000, PageSize, S2Normal, ErrRange, ""},
		{"end out of range", 1<<40 - PageSize, 0x4000_0000, 2 * PageSize, S2Normal, ErrRange, ""},
		{"size wraps", 0x4000_0000, 0x4000_0000, ^uint64(PageSize - 1), S2Normal, ErrRange, ""},
		{"pa beyond 48 bits", 0x4000_0000, 1 << 48, PageSize, S2Normal, ErrRange, ""},
		{"pa end beyond 48 bits", 0x4000_0000, 1<<48 - PageSize, 2 * PageSize, S2Normal, ErrRange, ""},
		{"bad attr", 0x4000_0000, 0x4000_0000, PageSize, S2Attr(7), ErrArgument, ""},
		{"inside RAM block", 0x5000_1000, 0, PageSize, S2Normal, ErrMapped, "0x50001000"},
		{"same RAM", 0x4800_0000, 0x4800_0000, 0x3800_0000, S2Normal, ErrMapped, "0x48000000"},
		{"runs into RAM", 0x4000_0000, 0, 0x0800_1000, S2Normal, ErrMapped, "0x48000000"},
		{"runs into page", 0x1c08_e000, 0, 0x4000, S2Device, ErrMapped, "0x1c090000"},
		{"page in block range", 0x1c00_0000, 0x1c00_0000, 2 << 20, S2Device, ErrMapped, "0x1c090000"},
		{"covers device blocks", 0, 0, 1 << 30, S2Device, ErrMapped, "0x8000000"},
		{"high page", 0xff_ffe0_0000, 0, 2 << 20, S2Device, ErrMapped, "0xfffffff000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, s := newTestStage2(t, 64, 40)
			mapTestLayout(t, s)
			before := snapshot(a)
			err := s.Map(tc.ipa, tc.pa, tc.size, tc.attr)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Map = %v, want %v", err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.addr) {
				t.Errorf("error %q does not name %s", err, tc.addr)
			}
			if snapshot(a) != before {
				t.Errorf("failed Map changed the arena")
			}
		})
	}
}

// snapshot copies the used part of the arena.
func snapshot(a *Arena) string {
	return string(a.mem[:a.Used()])
}
