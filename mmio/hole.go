package mmio

// Hole is a Device that passes accesses to D except those inside
// [Off, Off+Size), which read as zero and ignore writes. Ferry uses it for
// a page it must trap because it owns part of it (its NIC's virtio-mmio
// transport shares a 4 KiB page with seven others): the guest keeps the
// rest of the page, and Ferry's part looks empty.
type Hole struct {
	D         Device
	Off, Size uint64
}

func (h Hole) in(off uint64, size int) bool {
	return off+uint64(size) > h.Off && off < h.Off+h.Size
}

// Read implements Device.
func (h Hole) Read(off uint64, size int) uint64 {
	if h.in(off, size) {
		return 0
	}
	return h.D.Read(off, size)
}

// Write implements Device.
func (h Hole) Write(off uint64, size int, v uint64) {
	if !h.in(off, size) {
		h.D.Write(off, size, v)
	}
}
