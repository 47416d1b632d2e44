// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"github.com/ferry-hv/ferry/phys"
	"testing"
)

func TestEL2BlockMatchesIdentityEL2(t *testing.T) {
	a, err := NewArena(make([]byte, PageSize), 0x1000)
	if err != nil {
		t.Fatal(err)
	}
	root, err := IdentityEL2(a, []phys.Range{{Base: 0x40000000, Size: 0x40000000}})
	if err != nil {
		t.Fatal(err)
	}
	for i, normal := range map[int]bool{0: false, 1: true, 2: false, 511: false} {
		if got, want := EL2Block(uint64(i)<<30, normal), a.Load(root, i); got != want {
			t.Errorf("entry %d: EL2Block %#x, IdentityEL2 %#x", i, got, want)
		}
	}
}
