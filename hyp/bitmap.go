package hyp

// bitmap is a set of page numbers.
type bitmap []uint64

func newBitmap(n uint64) bitmap { return make(bitmap, (n+63)/64) }

func (b bitmap) set(i uint64)      { b[i/64] |= 1 << (i % 64) }
func (b bitmap) get(i uint64) bool { return b[i/64]&(1<<(i%64)) != 0 }

func (b bitmap) setAll() {
	for i := range b {
		b[i] = ^uint64(0)
	}
}
