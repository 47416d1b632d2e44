// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dirty

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBitmap(t *testing.T) {
	for _, n := range []uint64{1, 63, 64, 65, 1000, 131072} {
		b := New(n)
		if b.Len() != n || b.Count() != 0 {
			t.Fatalf("New(%d): Len %d Count %d", n, b.Len(), b.Count())
		}
		r := rand.New(rand.NewPCG(n, 7))
		want := map[uint64]bool{}
		for range 3 * n / 2 {
			i := r.Uint64N(n)
			if got := b.Set(i); got == want[i] {
				t.Fatalf("n=%d Set(%d) = %v with the page marked %v", n, i, got, want[i])
			}
			want[i] = true
		}
		if b.Set(n) || b.Test(n) || b.Set(n+64) {
			t.Fatalf("n=%d: a page past the end was taken", n)
		}
		if b.Count() != uint64(len(want)) {
			t.Fatalf("n=%d: Count %d, want %d", n, b.Count(), len(want))
		}
		var got []uint64
		if k := b.Harvest(func(i uint64) { got = append(got, i) }); k != uint64(len(want)) {
			t.Fatalf("Harvest visited %d, want %d", k, len(want))
		}
		if !slices.IsSorted(got) || len(got) != len(want) {
			t.Fatalf("n=%d: harvest not in order or wrong size (%d of %d)", n, len(got), len(want))
		}
		for _, i := range got {
			if !want[i] {
				t.Fatalf("harvested %d, never set", i)
			}
		}
		if b.Count() != 0 {
			t.Fatalf("n=%d: %d pages left after harvest", n, b.Count())
		}
		b.SetAll()
		if b.Count() != n {
			t.Fatalf("n=%d: SetAll marked %d", n, b.Count())
		}
		b.Clear(0)
		b.Clear(n) // ignored
		if b.Test(0) || b.Count() != n-1 {
			t.Fatalf("n=%d: Clear(0): Count %d", n, b.Count())
		}
	}
}

func TestOr(t *testing.T) {
	a, b := New(130), New(200)
	a.Set(1)
	b.Set(1)
	b.Set(129)
	b.Set(150) // past a's end
	a.Or(b)
	var got []uint64
	a.Harvest(func(i uint64) { got = append(got, i) })
	if !slices.Equal(got, []uint64{1, 129}) {
		t.Fatalf("Or: %v", got)
	}
}

// SetRange marks what Set page by page would, for ranges across and
// within words and past the end, and marks all of 64 GiB of pages in
// one store per 64.
func TestSetRange(t *testing.T) {
	const n = 200
	for _, tc := range [][2]uint64{{0, 0}, {0, 1}, {3, 5}, {0, 64}, {63, 2}, {64, 64}, {5, 130}, {190, 100}, {199, 1}, {200, 5}, {0, 1 << 62}, {10, ^uint64(0)}} {
		got, want := New(n), New(n)
		got.SetRange(tc[0], tc[1])
		for i := tc[0]; i < n && i-tc[0] < tc[1]; i++ {
			want.Set(i)
		}
		for i := uint64(0); i < n; i++ {
			if got.Test(i) != want.Test(i) {
				t.Fatalf("SetRange(%d, %d): page %d is %v", tc[0], tc[1], i, got.Test(i))
			}
		}
		if got.Count() != want.Count() {
			t.Fatalf("SetRange(%d, %d): %d pages marked, want %d", tc[0], tc[1], got.Count(), want.Count())
		}
	}
	big := New(1 << 24) // 64 GiB of 4 KiB pages
	start := time.Now()
	big.SetRange(0, big.Len())
	if d := time.Since(start); big.Count() != big.Len() || d > time.Second {
		t.Fatalf("all of 64 GiB: %d pages marked in %v", big.Count(), d)
	}
}

// Writers on several CPUs mark pages while another harvests: every page
// marked is harvested -- none lost, none invented (run
// with -race).
func TestConcurrentHarvest(t *testing.T) {
	const n, writers, perWriter = 4096, 4, 20000
	b := New(n)
	var marked [writers][]uint64
	done := make(chan struct{})
	for w := range writers {
		go func() {
			defer func() { done <- struct{}{} }()
			r := rand.New(rand.NewPCG(uint64(w), 1))
			for k := range perWriter {
				i := r.Uint64N(n)
				if k%16 == 0 {
					span := r.Uint64N(200)
					b.SetRange(i, span)
					for j := i; j < min(i+span, n); j++ {
						marked[w] = append(marked[w], j)
					}
					continue
				}
				b.Set(i)
				marked[w] = append(marked[w], i)
			}
		}()
	}
	seen := map[uint64]bool{}
	harvest := func() {
		b.Harvest(func(i uint64) {
			if i >= n {
				t.Errorf("harvested page %d past the end", i)
			}
			seen[i] = true
		})
	}
	for running := writers; running > 0; {
		select {
		case <-done:
			running--
		default:
			harvest()
		}
	}
	harvest()
	all := map[uint64]bool{}
	for w := range writers {
		for _, i := range marked[w] {
			if !seen[i] {
				t.Fatalf("page %d marked by writer %d was never harvested", i, w)
			}
			all[i] = true
		}
	}
	for i := range seen {
		if !all[i] {
			t.Fatalf("page %d harvested, never marked", i)
		}
	}
	if b.Count() != 0 {
		t.Errorf("%d pages left after the last harvest", b.Count())
	}
}
