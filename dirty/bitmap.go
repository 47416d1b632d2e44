// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package dirty is the dirty log of guest RAM: one bit per 4 KiB page,
// set by the stage-2 write fault that the page's first write since the
// last harvest takes, and harvested (read and cleared, in page order) by
// each pre-copy round. Every word is read and written atomically, so
// the write faults of several CPUs mark pages while another harvests: a
// word is taken and cleared in one atomic swap, and a page marked during
// a harvest is in this one or the next, never lost.
package dirty

import (
	"math/bits"
	"sync/atomic"
)

// Bitmap is a set of page numbers 0..Len()-1, safe for concurrent use.
type Bitmap struct {
	w []atomic.Uint64
	n uint64
}

// New returns an empty bitmap of n pages.
func New(n uint64) *Bitmap { return &Bitmap{w: make([]atomic.Uint64, (n+63)/64), n: n} }

// Len is the number of pages the bitmap covers.
func (b *Bitmap) Len() uint64 { return b.n }

// Set marks page i and reports whether it was clear. i >= Len is ignored
// (and reported as not newly set).
func (b *Bitmap) Set(i uint64) bool {
	if i >= b.n {
		return false
	}
	m := uint64(1) << (i % 64)
	return b.w[i/64].Or(m)&m == 0
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
		b.w[k].Or(m)
		i += 64 - j
	}
}

// Clear unmarks page i.
func (b *Bitmap) Clear(i uint64) {
	if i < b.n {
		b.w[i/64].And(^(uint64(1) << (i % 64)))
	}
}

// Test reports whether page i is marked.
func (b *Bitmap) Test(i uint64) bool { return i < b.n && b.w[i/64].Load()&(1<<(i%64)) != 0 }

// SetAll marks every page.
func (b *Bitmap) SetAll() {
	for i := range b.w {
		b.w[i].Store(^uint64(0))
	}
	if r := b.n % 64; r != 0 {
		b.w[len(b.w)-1].Store(1<<r - 1)
	}
}

// Count is the number of marked pages.
func (b *Bitmap) Count() uint64 {
	var c int
	for i := range b.w {
		c += bits.OnesCount64(b.w[i].Load())
	}
	return uint64(c)
}

// Harvest clears every marked page and calls fn for it, in increasing
// order, taking each word of 64 pages in one atomic swap: a page another
// goroutine marks meanwhile is in this harvest or left for the next. fn
// must not change the bitmap. It returns how many pages it visited.
func (b *Bitmap) Harvest(fn func(i uint64)) uint64 {
	var n uint64
	for k := range b.w {
		if b.w[k].Load() == 0 {
			continue
		}
		w := b.w[k].Swap(0)
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
	last := uint64(len(b.w)) - 1
	for i := range uint64(min(len(b.w), len(o.w))) {
		v := o.w[i].Load()
		if r := b.n % 64; i == last && r != 0 {
			v &= 1<<r - 1
		}
		b.w[i].Or(v)
	}
}
