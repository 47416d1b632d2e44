// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmio

import "testing"

func TestPage(t *testing.T) {
	f := NewFake(0x1000)
	f.Write(0x000, 4, 0x74726976) // "virt" magic of another transport
	f.Write(0xe00, 4, 0x74726976) // Ferry's own transport
	model := NewFake(0x200)
	p := Page{Rest: f, Parts: []Part{{Off: 0xc00, Size: 0x200, D: model}, {Off: 0xe00, Size: 0x200}}}
	if got := p.Read(0x000, 4); got != 0x74726976 {
		t.Fatalf("outside the parts: %#x", got)
	}
	if got := p.Read(0xe00, 4); got != 0 {
		t.Fatalf("inside the hole: %#x", got)
	}
	if got := p.Read(0xbfc, 8); got != 0 {
		t.Fatalf("an access straddling a part's start: %#x", got)
	}
	n := len(f.Writes())
	p.Write(0xe70, 4, 1) // QueueNotify of Ferry's transport
	if len(f.Writes()) != n {
		t.Fatal("a write inside the hole reached the device")
	}
	p.Write(0x050, 4, 1)
	if len(f.Writes()) != n+1 {
		t.Fatal("a write outside the parts did not reach the device")
	}
	p.Write(0xc70, 4, 7) // the modelled transport's Status, at its own offset
	if w := model.Writes(); len(w) != 1 || w[0].Off != 0x70 || w[0].Val != 7 || len(f.Writes()) != n+1 {
		t.Fatalf("a write to the model: %v", w)
	}
	model.Write(0x10, 4, 0xabc)
	if got := p.Read(0xc10, 4); got != 0xabc {
		t.Fatalf("a read from the model: %#x", got)
	}
}
