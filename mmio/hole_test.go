package mmio

import "testing"

func TestHole(t *testing.T) {
	f := NewFake(0x1000)
	f.Write(0x000, 4, 0x74726976) // "virt" magic of the transport before the hole
	f.Write(0xe00, 4, 0x74726976) // Ferry's own transport
	h := Hole{D: f, Off: 0xe00, Size: 0x200}
	if got := h.Read(0x000, 4); got != 0x74726976 {
		t.Fatalf("outside the hole: %#x", got)
	}
	if got := h.Read(0xe00, 4); got != 0 {
		t.Fatalf("inside the hole: %#x", got)
	}
	if got := h.Read(0xdfc, 8); got != 0 {
		t.Fatalf("an access straddling the hole's start: %#x", got)
	}
	n := len(f.Writes())
	h.Write(0xe70, 4, 1) // QueueNotify of Ferry's transport
	if len(f.Writes()) != n {
		t.Fatal("a write inside the hole reached the device")
	}
	h.Write(0x050, 4, 1)
	if len(f.Writes()) != n+1 {
		t.Fatal("a write outside the hole did not reach the device")
	}
}
