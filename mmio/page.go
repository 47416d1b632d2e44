// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmio

// Page is a Device over a page whose ranges go to different devices. Ferry
// uses it for a page it must trap because part of it is not the guest's
// to drive directly: its own NIC's virtio-mmio transport (a hole that
// reads as zero and ignores writes), or the guest's NIC's transport (a
// model that records the driver's set-up). On QEMU's virt board eight
// transports share each 4 KiB page. An access inside a part goes to that
// part's device, at the offset within the part; an access that straddles
// a part's edge is treated as a hole's; anything else goes to Rest, at
// its page offset.
type Page struct {
	Rest  Device
	Parts []Part
}

// Part is a range of a Page, at Off for Size bytes. A nil D is a hole.
type Part struct {
	Off, Size uint64
	D         Device
}

// route finds the part an access at off of size bytes falls in: the part
// and the offset within it; inside false when it touches no part.
func (p Page) route(off uint64, size int) (part Part, rel uint64, inside bool) {
	end := off + uint64(size)
	for _, x := range p.Parts {
		if end <= x.Off || off >= x.Off+x.Size {
			continue
		}
		if off < x.Off || end > x.Off+x.Size {
			return Part{}, 0, true // straddles the part's edge: a hole's
		}
		return x, off - x.Off, true
	}
	return Part{}, 0, false
}

// Read implements Device.
func (p Page) Read(off uint64, size int) uint64 {
	x, rel, inside := p.route(off, size)
	switch {
	case !inside:
		return p.Rest.Read(off, size)
	case x.D == nil:
		return 0
	}
	return x.D.Read(rel, size)
}

// Write implements Device.
func (p Page) Write(off uint64, size int, v uint64) {
	x, rel, inside := p.route(off, size)
	switch {
	case !inside:
		p.Rest.Write(off, size, v)
	case x.D != nil:
		x.D.Write(rel, size, v)
	}
}
