// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package dirty is the dirty log of guest RAM: one bit per 4 KiB page,
// set by the stage-2 write fault that the page's first write since the
// last harvest takes, and harvested (read and cleared, in page order) by
// each pre-copy round. It is plain data: the hypervisor's single CPU runs
// the fault handler and the harvest one after the other, never at once.
package dirty

import "math/bits"

// Bitmap is a set of page numbers 0..Len()-1.
type Bitmap struct {
	w []uint64
	n uint64
}

// New returns an empty bitmap of n pages.
func New(n uint64) *Bitmap { return &Bitmap{w: make([]uint64, (n+63)/64), n: n} }

// Len is the number of pages the bitmap covers.
func (b *Bitmap) Len() uint64 { return b.n }

// Set marks page i and reports whether it was clear. i >= Len is ignored
// (and reported as not newly set).
func (b *Bitmap) Set(i uint64) bool {
	if i >= b.n {
		return false
	}
	m := uint64(1) << (i % 64)
	old := b.w[i/64]
	b.w[i/64] = old | m
	return old&m == 0
}

// SetRange marks the n pages from first (those below Len), a word at a
// time: a device's write of many pages costs a store per 64 of them.
func (b *Bitmap) SetRange(first, n uint64) {
	if first >= b.n || n == 0 {
		return
	}
	end := first + min(n, b.n-first) // past the last page to mark
	for i := first; i < end; {
		k, j := i/64, i%64
		m := ^uint64(0) << j
		if span := end - i; j+span < 64 {
			m &= 1<<(j+span) - 1
		}
		b.w[k] |= m
		i += 64 - j
	}
}

// Clear unmarks page i.
func (b *Bitmap) Clear(i uint64) {
	if i < b.n {
		b.w[i/64] &^= 1 << (i % 64)
	}
}

// Test reports whether page i is marked.
func (b *Bitmap) Test(i uint64) bool { return i < b.n && b.w[i/64]&(1<<(i%64)) != 0 }

// SetAll marks every page.
func (b *Bitmap) SetAll() {
	for i := range b.w {
		b.w[i] = ^uint64(0)
	}
	if r := b.n % 64; r != 0 {
		b.w[len(b.w)-1] = 1<<r - 1
	}
}

// Count is the number of marked pages.
func (b *Bitmap) Count() uint64 {
	var c int
	for _, w := range b.w {
		c += bits.OnesCount64(w)
	}
	return uint64(c)
}

// Harvest clears every marked page and calls fn for it, in increasing
// order. fn must not change the bitmap. It returns how many pages it
// visited.
func (b *Bitmap) Harvest(fn func(i uint64)) uint64 {
	var n uint64
	for k, w := range b.w {
		if w == 0 {
			continue
		}
		b.w[k] = 0
		for w != 0 {
			j := uint64(bits.TrailingZeros64(w))
			w &^= 1 << j
			fn(uint64(k)*64 + j)
			n++
		}
	}
	return n
}

// Or marks every page o marks (pages past Len are ignored).
func (b *Bitmap) Or(o *Bitmap) {
	for i := range min(len(b.w), len(o.w)) {
		b.w[i] |= o.w[i]
	}
	if r := b.n % 64; r != 0 && len(b.w) > 0 {
		b.w[len(b.w)-1] &= 1<<r - 1
	}
}
