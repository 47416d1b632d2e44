// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"errors"
	"testing"
)

const (
	mib2 = 2 << 20
	gib  = 1 << 30
)

func TestUnmapPartOfBlock(t *testing.T) {
	for _, tc := range []struct {
		name      string
		attr      S2Attr
		raw       uint64
		cut, size uint64 // offset and size of the hole, within the block
	}{
		{"normal middle", S2Normal, rawNormal, 0x10_0000, 3 * PageSize},
		{"normal first page", S2Normal, rawNormal, 0, PageSize},
		{"normal last page", S2Normal, rawNormal, mib2 - PageSize, PageSize},
		{"device middle", S2Device, rawDevice, 0x8_0000, 0x10_0000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const ipa, pa = 0x4000_0000, 0x8020_0000
			a, s := newTestStage2(t, 16, 40)
			if err := s.Map(ipa, pa, mib2, tc.attr); err != nil {
				t.Fatal(err)
			}
			if err := s.Unmap(ipa+tc.cut, tc.size); err != nil {
				t.Fatal(err)
			}
			for off := uint64(0); off < mib2; off += PageSize {
				got, attr, writable, level, ok := s.Lookup(ipa + off)
				descs := rawWalk(t, a, s, ipa+off)
				if off >= tc.cut && off < tc.cut+tc.size {
					if ok || descs[len(descs)-1] != 0 {
						t.Fatalf("%#x still mapped", ipa+off)
					}
					continue
				}
				if !ok || got != pa+off || attr != tc.attr || !writable || level != 3 {
					t.Fatalf("Lookup(%#x) = %#x %v %v level %d %v", ipa+off, got, attr, writable, level, ok)
				}
				if want := (pa + off) | tc.raw | rawTableType; len(descs) != 3 || descs[2] != want {
					t.Fatalf("%#x: raw %#x, want page %#x", ipa+off, descs, want)
				}
			}
			// Unmapping the hole again, or unmapped space, is fine.
			if err := s.Unmap(ipa+tc.cut, tc.size); err != nil {
				t.Errorf("second Unmap: %v", err)
			}
			if err := s.Unmap(0x7000_0000, gib); err != nil {
				t.Errorf("Unmap of unmapped space: %v", err)
			}
			// Unmapping the whole 2 MiB drops the level-3 table.
			if err := s.Unmap(ipa, mib2); err != nil {
				t.Fatal(err)
			}
			if descs := rawWalk(t, a, s, ipa); len(descs) != 2 || descs[1] != 0 {
				t.Errorf("after full unmap: %#x", descs)
			}
			// And the space maps as a block again.
			if err := s.Map(ipa, pa, mib2, tc.attr); err != nil {
				t.Fatal(err)
			}
			if _, _, _, level, _ := s.Lookup(ipa); level != 2 {
				t.Errorf("remap: level %d, want 2", level)
			}
		})
	}
}

func TestUnmapAcrossBlocks(t *testing.T) {
	a, s := newTestStage2(t, 16, 40)
	const ipa = 0x3fc0_0000 // 4 MiB below 1 GiB: crosses a level-1 boundary
	if err := s.Map(ipa, 0x1000_0000, 4*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	if err := s.Unmap(ipa+0x10_0000, 2*mib2); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ipa   uint64
		level int // 0: unmapped
	}{
		{ipa, 3}, {ipa + 0xf_f000, 3}, {ipa + 0x10_0000, 0}, {ipa + mib2, 0},
		{ipa + 2*mib2, 0}, {ipa + 2*mib2 + 0xf_f000, 0},
		{ipa + 2*mib2 + 0x10_0000, 3}, {ipa + 3*mib2 - PageSize, 3},
		{ipa + 3*mib2, 2}, {ipa + 4*mib2 - PageSize, 2}, {ipa + 4*mib2, 0},
	} {
		pa, _, _, level, ok := s.Lookup(tc.ipa)
		if level != tc.level || ok != (tc.level != 0) || (ok && pa != tc.ipa-ipa+0x1000_0000) {
			t.Errorf("Lookup(%#x) = %#x level %d ok %v, want level %d", tc.ipa, pa, level, ok, tc.level)
		}
	}
	// The fully covered block's level-2 entry is invalid, not a table.
	if descs := rawWalk(t, a, s, ipa+mib2); len(descs) != 2 || descs[1] != 0 {
		t.Errorf("covered block: %#x", descs)
	}
}

func TestWriteProtectRoundTrip(t *testing.T) {
	a, s := newTestStage2(t, 32, 40)
	const ram, dev = 0x4000_0000, 0x4060_0000
	if err := s.Map(ram, 0x8000_0000, 2*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	if err := s.Map(dev, 0x0900_0000, PageSize, S2Device); err != nil {
		t.Fatal(err)
	}
	// Protect from a page before RAM to past the device page.
	n, err := s.WriteProtect(ram-PageSize, 0x70_0000)
	if err != nil || n != 2*512+1 {
		t.Fatalf("WriteProtect = %d, %v; want 1025", n, err)
	}
	check := func(ipa uint64, writable bool) {
		t.Helper()
		_, _, w, level, ok := s.Lookup(ipa)
		if !ok || w != writable || level != 3 {
			t.Errorf("Lookup(%#x): writable %v level %d ok %v, want writable %v level 3", ipa, w, level, ok, writable)
		}
		want := uint64(rawNormal)
		if ipa == dev {
			want = rawDevice
		}
		if !writable {
			want = want&^rawS2AP | rawRO
		}
		if d := rawWalk(t, a, s, ipa)[2]; d&^rawAddr != want|rawTableType {
			t.Errorf("%#x: raw %#x, want attributes %#x", ipa, d, want|rawTableType)
		}
	}
	for off := uint64(0); off < 2*mib2; off += PageSize {
		check(ram+off, false)
	}
	check(dev, false)
	if err := s.AllowWrite(ram + 0x12_3456); err != nil {
		t.Fatal(err)
	}
	if err := s.AllowWrite(dev + 8); err != nil {
		t.Fatal(err)
	}
	check(ram+0x12_3000, true)
	check(ram+0x12_2000, false)
	check(ram+0x12_4000, false)
	check(dev, true)
	// A second pass protects the same pages again without allocating.
	used := a.Used()
	if n, err := s.WriteProtect(ram, 2*mib2); err != nil || n != 1024 || a.Used() != used {
		t.Errorf("second WriteProtect = %d, %v, used %#x -> %#x", n, err, used, a.Used())
	}
	check(ram+0x12_3000, false)
	if n, err := s.WriteProtect(0x7000_0000, mib2); err != nil || n != 0 {
		t.Errorf("WriteProtect of unmapped space = %d, %v", n, err)
	}
}

func TestEditErrors(t *testing.T) {
	_, s := newTestStage2(t, 16, 40)
	if err := s.Map(0x4000_0000, 0x4000_0000, mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"Unmap unaligned ipa", s.Unmap(0x4000_0010, PageSize), ErrAlign},
		{"Unmap unaligned size", s.Unmap(0x4000_0000, 10), ErrAlign},
		{"Unmap empty", s.Unmap(0x4000_0000, 0), ErrRange},
		{"Unmap out of range", s.Unmap(1<<40, PageSize), ErrRange},
		{"Unmap end out of range", s.Unmap(1<<40-PageSize, 2*PageSize), ErrRange},
		{"WriteProtect unaligned", second(s.WriteProtect(0x4000_0800, PageSize)), ErrAlign},
		{"WriteProtect out of range", second(s.WriteProtect(1<<40, PageSize)), ErrRange},
		{"AllowWrite unmapped", s.AllowWrite(0x5000_0000), ErrNotMapped},
		{"AllowWrite out of range", s.AllowWrite(1 << 40), ErrRange},
		{"AllowWrite mapped", s.AllowWrite(0x4000_0008), nil},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
}

func second(_ int, err error) error { return err }

// TestExhaustion checks that running out of tables leaves the mapping
// state as it was.
func TestExhaustion(t *testing.T) {
	// Root (2 pages) + one level-2 table + one level-3 table.
	a, s := newTestStage2(t, 4, 40)
	if err := s.Map(0x4000_0000, 0x4000_0000, 2*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	if err := s.Map(0x4040_0000, 0x4040_0000, PageSize, S2Device); err != nil {
		t.Fatal(err)
	}
	if a.Used() != 4*PageSize {
		t.Fatalf("used %#x", a.Used())
	}
	want := lookupAll(s, 0x4000_0000, 4*mib2)
	for _, tc := range []struct {
		name string
		op   func() error
	}{
		{"Map needing a level-3 table", func() error { return s.Map(0x4060_0000, 0, PageSize, S2Normal) }},
		{"Map needing a level-2 table", func() error { return s.Map(0x8000_0000, 0, mib2, S2Normal) }},
		{"Map partly done", func() error { return s.Map(0x4041_0000, 0x4041_0000, 0x1f_0000+mib2+PageSize, S2Normal) }},
		{"Unmap splitting", func() error { return s.Unmap(0x4000_0000, PageSize) }},
		{"Unmap splitting the second block", func() error { return s.Unmap(0x4000_0000, mib2+PageSize) }},
		{"WriteProtect splitting", func() error { return second(s.WriteProtect(0x4000_0000, 3*mib2)) }},
	} {
		if err := tc.op(); !errors.Is(err, ErrExhausted) {
			t.Errorf("%s: %v, want ErrExhausted", tc.name, err)
		}
		if got := lookupAll(s, 0x4000_0000, 4*mib2); got != want {
			t.Errorf("%s changed the mappings", tc.name)
		}
	}
	// What needs no tables still works: whole blocks unmap and remap.
	if err := s.Unmap(0x4000_0000, mib2); err != nil {
		t.Fatal(err)
	}
	if err := s.Map(0x4000_0000, 0x4000_0000, mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
}

type lookupResult struct {
	pa       uint64
	attr     S2Attr
	writable bool
	level    int
	ok       bool
}

// lookupAll returns a comparable digest of every page's Lookup.
func lookupAll(s *Stage2, ipa, size uint64) [4 * 512]lookupResult {
	var r [4 * 512]lookupResult
	for i := range r[:size/PageSize] {
		x := &r[i]
		x.pa, x.attr, x.writable, x.level, x.ok = s.Lookup(ipa + uint64(i)*PageSize)
	}
	return r
}

func TestS2AttrString(t *testing.T) {
	for _, tc := range []struct {
		a    S2Attr
		want string
	}{{S2Normal, "Normal"}, {S2Device, "Device"}, {S2Attr(9), "S2Attr(9)"}} {
		if got := tc.a.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", uint8(tc.a), got, tc.want)
		}
	}
}
