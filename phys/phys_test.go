// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package phys

import (
	"reflect"
	"testing"
)

func TestMerge(t *testing.T) {
	for _, tc := range []struct{ in, want []Range }{
		{nil, nil},
		{[]Range{{0x2000, 0x1000}, {0x1000, 0x1000}}, []Range{{0x1000, 0x2000}}},
		{[]Range{{0x1000, 0x3000}, {0x2000, 0x100}}, []Range{{0x1000, 0x3000}}},
		{[]Range{{0x1000, 0x100}, {0x3000, 0}, {0x1200, 0x100}}, []Range{{0x1000, 0x100}, {0x1200, 0x100}}},
	} {
		if got := Merge(tc.in); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Merge(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestSubtract(t *testing.T) {
	rs := []Range{{0x1000, 0x4000}, {0x8000, 0x1000}}
	for _, tc := range []struct {
		cut  Range
		want []Range
	}{
		{Range{0x2000, 0x1000}, []Range{{0x1000, 0x1000}, {0x3000, 0x2000}, {0x8000, 0x1000}}},
		{Range{0x0, 0x2000}, []Range{{0x2000, 0x3000}, {0x8000, 0x1000}}},
		{Range{0x4000, 0x5000}, []Range{{0x1000, 0x3000}}},
		{Range{0x6000, 0x1000}, rs},
	} {
		if got := Subtract(rs, tc.cut); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Subtract(%v, %v) = %v, want %v", rs, tc.cut, got, tc.want)
		}
	}
}

func TestRoundOutContainsOverlaps(t *testing.T) {
	r := Range{0x9000010, 0x20}
	if got, want := r.RoundOut(0x1000), (Range{0x9000000, 0x1000}); got != want {
		t.Errorf("RoundOut = %v, want %v", got, want)
	}
	if got, want := (Range{0xfff, 2}).RoundOut(0x1000), (Range{0, 0x2000}); got != want {
		t.Errorf("RoundOut across a page = %v, want %v", got, want)
	}
	page := Range{0x9000000, 0x1000}
	if !page.Contains(r) || r.Contains(page) {
		t.Errorf("Contains wrong for %v, %v", page, r)
	}
	if !page.Overlaps(r) || page.Overlaps(Range{0x9001000, 1}) || (Range{0x8fff000, 0x1000}).Overlaps(page) {
		t.Errorf("Overlaps wrong at the edges of %v", page)
	}
}
