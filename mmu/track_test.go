// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"errors"
	"testing"
)

// bbmTLB checks break-before-make: when the TLB is told, the descriptor
// for that region must already be invalid.
type bbmTLB struct {
	t     *testing.T
	s     *Stage2
	calls []uint64
}

func (b *bbmTLB) InvalidateIPA(ipa uint64, level int) {
	b.t.Helper()
	if level != s2BlockLevel {
		b.t.Errorf("InvalidateIPA(%#x, level %d): want level 2", ipa, level)
	}
	if _, _, _, _, ok := b.s.Lookup(ipa); ok {
		b.t.Errorf("InvalidateIPA(%#x) while the old mapping is still valid: not break-before-make", ipa)
	}
	b.calls = append(b.calls, ipa)
}

func TestTrackWritesAndMerge(t *testing.T) {
	const ram, blocks = 0x4800_0000, 4
	a, s := newTestStage2(t, 32, 40)
	tlb := &bbmTLB{t: t, s: s}
	s.SetTLB(tlb)
	if err := s.Map(ram, ram, blocks*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	used := a.Used()

	split, pages, err := s.TrackWrites(ram, blocks*mib2)
	if err != nil || split != blocks || pages != blocks*512 {
		t.Fatalf("TrackWrites = %d blocks, %d pages, %v; want %d, %d", split, pages, err, blocks, blocks*512)
	}
	if len(tlb.calls) != blocks {
		t.Errorf("%d TLB invalidations for %d splits", len(tlb.calls), blocks)
	}
	for off := uint64(0); off < blocks*mib2; off += PageSize {
		pa, attr, w, level, ok := s.Lookup(ram + off)
		if !ok || pa != ram+off || attr != S2Normal || w || level != 3 {
			t.Fatalf("tracked %#x: %#x %v writable %v level %d %v", ram+off, pa, attr, w, level, ok)
		}
	}

	// A dirty fault makes one page writable; harvesting protects it again.
	page := uint64(ram + mib2 + 5*PageSize)
	if was, err := s.SetPageWritable(page+0x123, true); err != nil || was {
		t.Fatalf("SetPageWritable(true) = %v, %v; want false (was read-only)", was, err)
	}
	if _, _, w, _, _ := s.Lookup(page); !w {
		t.Fatal("page not writable after SetPageWritable(true)")
	}
	if _, _, w, _, _ := s.Lookup(page + PageSize); w {
		t.Fatal("neighbour page writable too")
	}
	if was, err := s.SetPageWritable(page, false); err != nil || !was {
		t.Fatalf("SetPageWritable(false) = %v, %v; want true (was writable)", was, err)
	}

	tlb.calls = nil
	merged, err := s.Merge(ram, blocks*mib2)
	if err != nil || merged != blocks {
		t.Fatalf("Merge = %d, %v; want %d", merged, err, blocks)
	}
	if len(tlb.calls) != blocks || a.Freed() != blocks {
		t.Errorf("Merge: %d invalidations, %d tables freed; want %d each", len(tlb.calls), a.Freed(), blocks)
	}
	for off := uint64(0); off < blocks*mib2; off += PageSize {
		pa, attr, w, level, ok := s.Lookup(ram + off)
		if !ok || pa != ram+off || attr != S2Normal || !w || level != 2 {
			t.Fatalf("merged %#x: %#x %v writable %v level %d %v", ram+off, pa, attr, w, level, ok)
		}
	}

	// A second migration reuses the freed tables: the arena does not grow.
	if _, _, err := s.TrackWrites(ram, blocks*mib2); err != nil {
		t.Fatal(err)
	}
	if a.Used() != used+blocks*PageSize || a.Freed() != 0 {
		t.Errorf("second TrackWrites: arena used %#x (first split left %#x), %d freed", a.Used(), used+blocks*PageSize, a.Freed())
	}
}

// A table that does not map one whole aligned 2 MiB of one kind stays a
// table; its RAM pages become writable, a device page Ferry protects
// stays read-only.
func TestMergeKeepsMixedTables(t *testing.T) {
	const ram = 0x4800_0000
	_, s := newTestStage2(t, 32, 40)
	if err := s.Map(ram, ram, 2*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TrackWrites(ram, 2*mib2); err != nil {
		t.Fatal(err)
	}
	hole := uint64(ram + 7*PageSize)
	if err := s.Unmap(hole, PageSize); err != nil {
		t.Fatal(err)
	}
	const dev = 0x0900_0000
	if err := s.Map(dev&^(mib2-1), dev&^(mib2-1), mib2, S2Device); err != nil {
		t.Fatal(err)
	}
	if _, err := s.WriteProtect(dev, PageSize); err != nil {
		t.Fatal(err)
	}
	n, err := s.Merge(ram, 2*mib2)
	if err != nil || n != 1 {
		t.Fatalf("Merge = %d, %v; want 1 (the block with the hole stays pages)", n, err)
	}
	if _, _, w, level, ok := s.Lookup(ram + PageSize); !ok || !w || level != 3 {
		t.Errorf("page beside the hole: writable %v level %d %v", w, level, ok)
	}
	if _, _, _, _, ok := s.Lookup(hole); ok {
		t.Error("the hole is mapped again")
	}
	if _, _, w, level, _ := s.Lookup(ram + mib2); !w || level != 2 {
		t.Errorf("second block: writable %v level %d", w, level)
	}
	if _, err := s.Merge(dev&^(mib2-1), mib2); err != nil {
		t.Fatal(err)
	}
	if _, _, w, _, _ := s.Lookup(dev); w {
		t.Error("Merge made the protected device page writable")
	}
}

func TestTrackErrors(t *testing.T) {
	_, s := newTestStage2(t, 4, 40)
	if err := s.Map(0x4800_0000, 0x4800_0000, 4*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"track unaligned", third(s.TrackWrites(0x4800_1000, mib2)), ErrAlign},
		{"track partial block", third(s.TrackWrites(0x4800_0000, mib2+PageSize)), ErrAlign},
		{"merge out of range", errOf(s.Merge(1<<40, mib2)), ErrRange},
		{"page of a block", errOf(s.SetPageWritable(0x4800_0000, true)), ErrNotMapped},
		{"page unmapped", errOf(s.SetPageWritable(0x7000_0000, true)), ErrNotMapped},
		{"page out of range", errOf(s.SetPageWritable(1<<41, true)), ErrNotMapped},
	} {
		if !errors.Is(tc.err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, tc.err, tc.want)
		}
	}
	// The arena (4 pages, 3 used by the root and the level-2 table... ) runs
	// out part way: the blocks split so far merge back.
	_, s = newTestStage2(t, 5, 40)
	if err := s.Map(0x4800_0000, 0x4800_0000, 4*mib2, S2Normal); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.TrackWrites(0x4800_0000, 4*mib2); !errors.Is(err, ErrExhausted) {
		t.Fatalf("TrackWrites in a small arena: %v, want ErrExhausted", err)
	}
	if _, err := s.Merge(0x4800_0000, 4*mib2); err != nil {
		t.Fatal(err)
	}
	for off := uint64(0); off < 4*mib2; off += mib2 {
		if _, _, w, level, _ := s.Lookup(0x4800_0000 + off); !w || level != 2 {
			t.Errorf("after a failed TrackWrites and Merge, %#x: writable %v level %d", 0x4800_0000+off, w, level)
		}
	}
}

func third[T, U, V any](_ T, _ U, v V) V { return v }

func errOf[T any](_ T, err error) error { return err }
