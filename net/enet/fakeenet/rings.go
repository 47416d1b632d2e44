// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package fakeenet

// Transmitted sends what the driver made ready: while TDAR is set, the
// frames of the ready descriptors from the MAC's position on, in order,
// each descriptor given back (ready cleared) and TXF/TXB raised. It
// returns the frames as they went on the wire (without the CRC the MAC
// appends).
func (d *Device) Transmitted() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out [][]byte
	var frame []byte
	for range maxWalk {
		if !d.enabled() || d.regs[regTDAR] == 0 || d.opt.HoldTX {
			return out
		}
		x, ok := d.desc(d.regs[regTDSR], d.txIdx, "transmit")
		if !ok {
			d.regs[regTDAR] = 0
			d.regs[regEIR] |= EventEBERR
			return out
		}
		length, st := x.load()
		if st&StatusReady == 0 {
			d.regs[regTDAR] = 0 // no descriptor ready: the MAC stops
			return out
		}
		b := d.buffer(uint64(x.addr), int(length), "transmit buffer")
		if b == nil {
			d.regs[regTDAR] = 0
			d.regs[regEIR] |= EventEBERR
			return out
		}
		frame = append(frame, b...)
		x.store(length, st&^StatusReady)
		d.regs[regEIR] |= EventTXB
		d.txIdx = d.nextIdx(d.txIdx, st)
		if st&StatusLast == 0 {
			continue
		}
		if st&StatusTC == 0 {
			d.faultf("transmit frame of %d bytes without TC: sent with no CRC", len(frame))
		}
		if len(frame) < 60 {
			d.faultf("transmit frame of %d bytes: shorter than 60, not padded", len(frame))
		}
		out = append(out, frame)
		frame = nil
		d.regs[regEIR] |= EventTXF
		if d.opt.DropTDAR {
			d.regs[regTDAR] = 0
			return out
		}
	}
	d.faultf("transmit ring: %d descriptors walked in one go (no wrap bit?)", maxWalk)
	return out
}

// nextIdx is the MAC's next position after descriptor i: 0 after the wrap
// bit, else the next one (desc checks it is still in DMA memory).
func (d *Device) nextIdx(i int, st uint16) int {
	if st&StatusWrap != 0 {
		return 0
	}
	return i + 1
}

// Receive puts one frame from the wire into the receive ring, as the MAC
// does: only if RDAR is set and the frame is for the MAC's address, for
// broadcast, or the MAC is promiscuous; the frame and its CRC over as
// many buffers as it needs (MRBR each), the last one with the frame's
// length, LG past MAX_FL, truncated (TR) at FTRL. A frame that finds no
// empty descriptor is missed and RDAR cleared. It reports whether the
// frame went into the ring.
func (d *Device) Receive(frame []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.enabled() || d.regs[regRDAR] == 0 {
		d.missed++
		return false
	}
	if !d.accepts(frame) {
		return false
	}
	crc := CRC(frame)
	data := append(append([]byte(nil), frame...), crc[:]...)
	var last uint16
	if ftrl := int(d.regs[regFTRL] & 0x3fff); len(data) > ftrl {
		data, last = data[:ftrl], StatusTR
	}
	if len(data) > int(d.regs[regRCR]>>16&0x3fff) {
		last |= StatusLG
	}
	total, mrbr := len(data), int(d.regs[regMRBR]&0x3ff0)
	for first := true; ; first = false {
		x, ok := d.desc(d.regs[regRDSR], d.rxIdx, "receive")
		if !ok {
			d.regs[regRDAR] = 0
			d.regs[regEIR] |= EventEBERR
			return false
		}
		_, st := x.load()
		if st&StatusEmpty == 0 {
			d.regs[regRDAR] = 0 // no empty descriptor: the MAC stops
			d.missed++
			return !first
		}
		n := min(len(data), mrbr)
		b := d.buffer(uint64(x.addr), n, "receive buffer")
		if b == nil {
			d.regs[regRDAR] = 0
			d.regs[regEIR] |= EventEBERR
			return false
		}
		copy(b, data[:n])
		data = data[n:]
		d.regs[regEIR] |= EventRXB
		if len(data) == 0 {
			x.store(uint16(total), st&StatusWrap|StatusLast|last)
			d.rxIdx = d.nextIdx(d.rxIdx, st)
			d.regs[regEIR] |= EventRXF
			return true
		}
		x.store(uint16(n), st&StatusWrap)
		d.rxIdx = d.nextIdx(d.rxIdx, st)
	}
}

// accepts is the MAC's address filter.
func (d *Device) accepts(frame []byte) bool {
	if len(frame) < 6 || d.regs[regRCR]&rcrProm != 0 {
		return true
	}
	c := [6]byte{}
	copy(c[:], frame[:6])
	if c == [6]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff} {
		return true
	}
	pa := [6]byte{byte(d.regs[regPALR] >> 24), byte(d.regs[regPALR] >> 16), byte(d.regs[regPALR] >> 8), byte(d.regs[regPALR]),
		byte(d.regs[regPAUR] >> 24), byte(d.regs[regPAUR] >> 16)}
	return c == pa
}

// Descriptor returns descriptor i of the receive (rx) or transmit ring:
// its length and status.
func (d *Device) Descriptor(rx bool, i int) (length, status uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	x, ok := d.ringDesc(rx, i)
	if !ok {
		return 0, 0
	}
	return x.load()
}

// SetDescriptor writes descriptor i's length and status, as a broken or
// hostile MAC might: tests put the rings in states the real MAC should
// never leave.
func (d *Device) SetDescriptor(rx bool, i int, length, status uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if x, ok := d.ringDesc(rx, i); ok {
		x.store(length, status)
	}
}

// Position is the MAC's place in the receive (rx) or transmit ring.
func (d *Device) Position(rx bool) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if rx {
		return d.rxIdx
	}
	return d.txIdx
}

func (d *Device) ringDesc(rx bool, i int) (desc, bool) {
	if rx {
		return d.desc(d.regs[regRDSR], i, "receive")
	}
	return d.desc(d.regs[regTDSR], i, "transmit")
}
