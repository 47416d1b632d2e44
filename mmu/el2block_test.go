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

// The level-2 table for Ferry's first GiB: identity 2 MiB blocks with
// EL2Block's RAM attributes, except the non-cacheable window: MAIR index
// 2 (Normal Non-cacheable in MAIREL2), Outer Shareable, execute-never.
func TestEL2Level2(t *testing.T) {
	const gib = 0x40000000
	nc := phys.Range{Base: 0x47e00000, Size: 2 * Block2MSize}
	var l2 [512]uint64
	if err := EL2Level2(&l2, gib, nc); err != nil {
		t.Fatal(err)
	}
	wb := EL2Block(gib, true) & descAttrMask
	for i, d := range l2 {
		base := gib + uint64(i)*Block2MSize
		if d&descTypeMask != descBlockType || outputAddr(d) != base {
			t.Fatalf("entry %d: %#x is not a block at %#x", i, d, base)
		}
		attrs := d & descAttrMask
		inNC := base >= nc.Base && base < nc.End()
		switch {
		case !inNC && attrs != wb:
			t.Errorf("entry %d (%#x): attributes %#x, want RAM's %#x", i, base, attrs, wb)
		case inNC && (attrs>>s1AttrIndxShift&7 != s1AttrNC || attrs>>descSHShift&3 != shOuter || attrs&descXN == 0 || attrs&descAF == 0):
			t.Errorf("entry %d (%#x): attributes %#x, want Normal Non-cacheable, Outer Shareable, XN", i, base, attrs)
		}
	}
	if got := MAIREL2 >> (8 * s1AttrNC) & 0xff; got != 0x44 {
		t.Errorf("MAIR_EL2 Attr2 = %#x, want 0x44", got)
	}
	if MAIREL2&0xffff != 0xff00 {
		t.Errorf("MAIR_EL2 Attr0/Attr1 changed: %#x", MAIREL2)
	}
	if d := EL2Table(0x40123000); d != 0x40123000|descTableType {
		t.Errorf("EL2Table = %#x", d)
	}
	for _, bad := range []struct {
		gib uint64
		nc  phys.Range
	}{
		{gib + 0x1000, phys.Range{}},
		{gib, phys.Range{Base: 0x47e01000, Size: Block2MSize}},
		{gib, phys.Range{Base: 0x7fe00000, Size: 2 * Block2MSize}},
		{gib, phys.Range{Base: 0x3fe00000, Size: Block2MSize}},
	} {
		if err := EL2Level2(&l2, bad.gib, bad.nc); err == nil {
			t.Errorf("EL2Level2(%#x, %v) accepted", bad.gib, bad.nc)
		}
	}
	if err := EL2Level2(&l2, gib, phys.Range{}); err != nil || l2[0x3f]&descAttrMask != wb {
		t.Errorf("no window: %v", err)
	}
}
