// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package fakedev

import (
	"encoding/binary"

	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
)

// MMIO is the device's register window as a guest's load or store reaches
// it through QEMU's memory core (it implements mmio.Device), keeping the
// access's width. QEMU's virtio-mmio region implements 4-byte accesses
// only (its ops leave impl.max_access_size at the default of 4) and
// accepts any width naturally aligned, so:
//
//   - an 8-byte access is split into two 4-byte ones, the low word at
//     off first, then off+4 (access_with_adjusted_size);
//   - a 1- or 2-byte access reaches virtio_mmio_read/write as it is: on a
//     register it is ignored and reads as 0 ("wrong size access to
//     register!"), in the configuration space it is served;
//   - a misaligned access, or one past the window, is refused (a decode
//     error; here it reads as 0 and is recorded as a violation).
type MMIO struct{ D *Device }

// Read implements mmio.Device.
func (m MMIO) Read(off uint64, size int) uint64 {
	if !m.valid(off, size, false) {
		return 0
	}
	if size == 8 {
		return m.read(off, 4) | m.read(off+4, 4)<<32
	}
	return m.read(off, size)
}

// Write implements mmio.Device.
func (m MMIO) Write(off uint64, size int, v uint64) {
	if !m.valid(off, size, true) {
		return
	}
	if size == 8 {
		m.write(off, 4, v&0xffffffff)
		m.write(off+4, 4, v>>32)
		return
	}
	m.write(off, size, v)
}

func (m MMIO) valid(off uint64, size int, write bool) bool {
	n := uint64(size)
	if (n == 1 || n == 2 || n == 4 || n == 8) && off%n == 0 && off < vm.Size && vm.Size-off >= n {
		return true
	}
	m.D.mu.Lock()
	m.D.violation("%d-byte access (write %v) at %#x: misaligned or outside the window (a decode error)", size, write, off)
	m.D.mu.Unlock()
	return false
}

// read is one access of 1, 2 or 4 bytes as virtio_mmio_read takes it.
func (m MMIO) read(off uint64, size int) uint64 {
	if off >= vm.RegConfig {
		var b [4]byte
		for i := range size {
			b[i] = m.D.Read8(uint32(off) + uint32(i))
		}
		return uint64(binary.LittleEndian.Uint32(b[:]))
	}
	if size != 4 {
		m.D.mu.Lock()
		m.D.violation("%d-byte read of register %#x (QEMU reads 0)", size, off)
		m.D.mu.Unlock()
		return 0
	}
	return uint64(m.D.Read32(uint32(off)))
}

// write is one access of 1, 2 or 4 bytes as virtio_mmio_write takes it.
func (m MMIO) write(off uint64, size int, v uint64) {
	if off >= vm.RegConfig {
		return // virtio-net's configuration is read-only to a modern driver
	}
	if size != 4 {
		m.D.mu.Lock()
		m.D.violation("%d-byte write %#x to register %#x (QEMU ignores it)", size, v, off)
		m.D.mu.Unlock()
		return
	}
	m.D.Write32(uint32(off), uint32(v))
}

// Queue is what the device was given for queue i: its size, its three
// areas' addresses, and whether it is ready.
func (d *Device) Queue(i int) (num uint32, desc, driver, device uint64, ready bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.q[i]
	return q.num, q.desc, q.driver, q.device, q.ready
}
