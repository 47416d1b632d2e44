// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

const testArenaBase = 0x1_0000_0000 // arbitrary physical address of test arenas

func newTestArena(t testing.TB, pages int) *Arena {
	t.Helper()
	a, err := NewArena(make([]byte, pages*PageSize), testArenaBase)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestNewArenaErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		size int
		base uint64
		want error
	}{
		{"unaligned base", PageSize, testArenaBase + 8, ErrAlign},
		{"unaligned size", PageSize + 8, testArenaBase, ErrAlign},
		{"wraps", 2 * PageSize, ^uint64(0) &^ (PageSize - 1), ErrRange},
	} {
		if _, err := NewArena(make([]byte, tc.size), tc.base); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	if _, err := NewArena(nil, testArenaBase); err != nil {
		t.Errorf("empty arena: %v", err)
	}
}

func TestArenaAlloc(t *testing.T) {
	mem := bytes.Repeat([]byte{0xAA}, 8*PageSize)
	a, err := NewArena(mem, testArenaBase)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		pages    int
		align    uint64
		wantPA   uint64
		wantUsed uint64
		wantErr  error
	}{
		{1, PageSize, testArenaBase, 1 * PageSize, nil},
		{2, 2 * PageSize, testArenaBase + 2*PageSize, 4 * PageSize, nil}, // skips a page
		{1, 4 * PageSize, testArenaBase + 4*PageSize, 5 * PageSize, nil},
		{4, PageSize, 0, 5 * PageSize, ErrExhausted},
		{1, 16 * PageSize, 0, 5 * PageSize, ErrExhausted}, // next 64 KiB boundary is past the end
		{0, PageSize, 0, 5 * PageSize, ErrArgument},
		{-1, PageSize, 0, 5 * PageSize, ErrArgument},
		{1, 2048, 0, 5 * PageSize, ErrArgument},
		{1, 3 * PageSize, 0, 5 * PageSize, ErrArgument},
		{3, PageSize, testArenaBase + 5*PageSize, 8 * PageSize, nil},
		{1, PageSize, 0, 8 * PageSize, ErrExhausted},
	} {
		pa, err := a.Alloc(tc.pages, tc.align)
		if !errors.Is(err, tc.wantErr) || (err == nil && pa != tc.wantPA) || a.Used() != tc.wantUsed {
			t.Errorf("Alloc(%d, %#x) = %#x, %v, used %#x; want %#x, %v, used %#x",
				tc.pages, tc.align, pa, err, a.Used(), tc.wantPA, tc.wantErr, tc.wantUsed)
		}
	}
	// Every page handed out was zeroed, except the padding page at 1.
	for i, b := range mem {
		want := byte(0)
		if i/PageSize == 1 {
			want = 0xAA
		}
		if b != want {
			t.Fatalf("mem[%#x] = %#x, want %#x", i, b, want)
		}
	}
	if a.Base() != testArenaBase {
		t.Errorf("Base() = %#x", a.Base())
	}
}

func TestArenaLoadStoreLittleEndian(t *testing.T) {
	mem := make([]byte, 2*PageSize)
	a, err := NewArena(mem, testArenaBase)
	if err != nil {
		t.Fatal(err)
	}
	const d = 0x0040_0000_4800_07fd
	a.Store(testArenaBase+PageSize, 3, d)
	off := PageSize + 3*descBytes
	if got := binary.LittleEndian.Uint64(mem[off:]); got != d {
		t.Errorf("mem holds %#x, want %#x", got, d)
	}
	if mem[off] != 0xfd || mem[off+7] != 0x00 || mem[off+6] != 0x40 {
		t.Errorf("bytes % x are not little-endian", mem[off:off+descBytes])
	}
	if got := a.Load(testArenaBase+PageSize, 3); got != d {
		t.Errorf("Load = %#x, want %#x", got, d)
	}
}

func TestArenaLoadOutsidePanics(t *testing.T) {
	a := newTestArena(t, 1)
	for _, tc := range []struct {
		pa uint64
		i  int
	}{
		{testArenaBase - PageSize, 0},
		{testArenaBase + PageSize, 0},
		{testArenaBase + 8, 0},
		{testArenaBase, tableEntries},
		{testArenaBase, -1},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Load(%#x, %d) did not panic", tc.pa, tc.i)
				}
			}()
			a.Load(tc.pa, tc.i)
		}()
	}
}
