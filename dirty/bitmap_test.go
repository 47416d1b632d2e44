package dirty

import (
	"math/rand/v2"
	"slices"
	"testing"
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
