// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package phys is the one address-range type: a range of physical
// addresses, or of guest intermediate physical addresses (Ferry maps the
// guest identity, IPA == PA, so the two are the same numbers). The device
// tree reader, the stage-1 and stage-2 tables, the machine description and
// the migration protocol all speak it.
package phys

import (
	"fmt"
	"slices"
)

// Range is [Base, Base+Size).
type Range struct{ Base, Size uint64 }

// End is the first address after r.
func (r Range) End() uint64 { return r.Base + r.Size }

func (r Range) String() string { return fmt.Sprintf("[%#x-%#x)", r.Base, r.End()) }

// Contains reports whether o lies wholly inside r.
func (r Range) Contains(o Range) bool { return o.Base >= r.Base && o.End() <= r.End() }

// Overlaps reports whether r and o share an address.
func (r Range) Overlaps(o Range) bool { return r.Base < o.End() && o.Base < r.End() }

// RoundOut widens r to whole units of align (a power of two): the pages a
// device's registers occupy.
func (r Range) RoundOut(align uint64) Range {
	base := r.Base &^ (align - 1)
	end := (r.End() + align - 1) &^ (align - 1)
	return Range{Base: base, Size: end - base}
}

// Compare orders ranges by base, then size.
func Compare(x, y Range) int {
	if x.Base != y.Base {
		if x.Base < y.Base {
			return -1
		}
		return 1
	}
	switch {
	case x.Size < y.Size:
		return -1
	case x.Size > y.Size:
		return 1
	}
	return 0
}

// Merge sorts rs and merges overlapping or adjacent ranges, dropping empty
// ones. rs is not modified.
func Merge(rs []Range) []Range {
	rs = slices.DeleteFunc(slices.Clone(rs), func(r Range) bool { return r.Size == 0 })
	slices.SortFunc(rs, Compare)
	var out []Range
	for _, r := range rs {
		if n := len(out); n > 0 && r.Base <= out[n-1].End() {
			if r.End() > out[n-1].End() {
				out[n-1].Size = r.End() - out[n-1].Base
			}
			continue
		}
		out = append(out, r)
	}
	return out
}

// Subtract returns rs without the addresses of cut.
func Subtract(rs []Range, cut Range) []Range {
	var out []Range
	for _, r := range rs {
		if !r.Overlaps(cut) {
			out = append(out, r)
			continue
		}
		if r.Base < cut.Base {
			out = append(out, Range{Base: r.Base, Size: cut.Base - r.Base})
		}
		if cut.End() < r.End() {
			out = append(out, Range{Base: cut.End(), Size: r.End() - cut.End()})
		}
	}
	return out
}
