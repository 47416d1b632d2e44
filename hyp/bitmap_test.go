package hyp

import "testing"

func TestBitmap(t *testing.T) {
	b := newBitmap(130)
	if len(b) != 3 {
		t.Fatalf("130 bits in %d words", len(b))
	}
	for _, i := range []uint64{0, 63, 64, 129} {
		if b.get(i) {
			t.Fatalf("bit %d set in a new bitmap", i)
		}
		b.set(i)
		if !b.get(i) {
			t.Fatalf("bit %d not set", i)
		}
	}
	if b.get(1) || b.get(65) || b.get(128) {
		t.Fatal("neighbours set")
	}
	b.setAll()
	for i := uint64(0); i < 130; i++ {
		if !b.get(i) {
			t.Fatalf("bit %d clear after setAll", i)
		}
	}
}
