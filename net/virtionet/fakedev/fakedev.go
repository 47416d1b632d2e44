// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package fakedev is a software model of a virtio-net device behind a
// virtio-mmio transport (virtio 1.2, 4.2 and 5.1), for host tests of
// package virtionet and of what is built on it. It plays QEMU's part: it
// serves the register file (virtionet.Regs), owns the memory the driver
// allocates for DMA (virtionet.DMA), consumes the transmit queue and fills
// the receive queue as the device would, and records protocol violations
// instead of crashing.
//
// It is written from the specification independently of the driver (it
// does not import it), so the two cross-check each other. It is not for
// use outside tests.
package fakedev

import (
	"encoding/binary"
	"fmt"
	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Feature bits (6, 5.1.3).
const (
	FeatureCSUM      = 1 << 0 // VIRTIO_NET_F_CSUM (a backend with a vnet header, e.g. tap)
	FeatureGuestCSUM = 1 << 1 // VIRTIO_NET_F_GUEST_CSUM
	FeatureMAC       = 1 << 5
	FeatureMrgRxBuf  = 1 << 15
	FeatureStatus    = 1 << 16
	FeatureVersion1  = 1 << 32

	// QEMUFeatures is roughly what QEMU 7.2's virtio-net-device offers
	// over a socket netdev (no checksum or segmentation offloads: the
	// backend has no vnet header).
	QEMUFeatures = FeatureVersion1 | FeatureMAC | FeatureMrgRxBuf | FeatureStatus |
		1<<17 | 1<<18 | 1<<19 | 1<<20 | 1<<21 | 1<<23 | // CTRL_VQ, CTRL_RX, CTRL_VLAN, CTRL_RX_EXTRA, GUEST_ANNOUNCE, CTRL_MAC_ADDR
		1<<28 | 1<<29 // INDIRECT_DESC, EVENT_IDX
)

const (
	netHdrSize    = 12
	descFNext     = 1
	descFWrite    = 2
	usedFNoNotify = 1
)

// Options shape the device.
type Options struct {
	Version  uint32 // register layout version; 0: 2
	DeviceID uint32 // 0: 1 (network)
	// NoDevice models a transport with nothing plugged in (DeviceID 0).
	NoDevice    bool
	Features    uint64 // offered; 0: QEMUFeatures
	MAC         [6]byte
	QueueNumMax uint32 // 0: 256
	// RefuseFeatures makes the device clear FEATURES_OK.
	RefuseFeatures bool
	// NoNotify makes the device set VIRTQ_USED_F_NO_NOTIFY.
	NoNotify bool
}

type vq struct {
	num                  uint32
	desc, driver, device uint64
	ready                bool
	lastAvail            uint16 // next available index the device reads
	usedIdx              uint16
	notifies             int
	// With VIRTIO_F_EVENT_IDX, the used index at the last check for an
	// interrupt (QEMU's signalled_used), once there was one.
	signalled      uint16
	signalledValid bool
}

// Device is the fake virtio-net device. All methods are safe for
// concurrent use.
type Device struct {
	mu             sync.Mutex
	opt            Options
	mem            *Memory
	status         uint32
	devSel         uint32
	drvSel         uint32
	driverFeatures uint64
	queueSel       uint32
	q              [2]vq
	gen            uint32
	errs           []string
	// Pending frames for the receive queue (QEMU holds them until the
	// driver posts buffers).
	pending [][]byte
	// isr is InterruptStatus: bit 0 set when the device uses a buffer of
	// a queue whose driver did not set VIRTQ_AVAIL_F_NO_INTERRUPT (with
	// EVENT_IDX: whose used index passed the driver's used_event), bit 1
	// on a configuration change (DEVICE_NEEDS_RESET); cleared by
	// InterruptACK. Its interrupt line is high while it is not zero.
	isr        uint32
	interrupts int // times the line went from low to high
}

// Interrupt-status bits (4.2.2 InterruptStatus).
const (
	isrUsedBuffer = 1 << 0
	isrConfig     = 1 << 1
	availFNoIntr  = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT
)

// Interrupting reports whether the device's interrupt line is high, and
// how many times it was raised.
func (d *Device) Interrupting() (high bool, raised int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.isr != 0, d.interrupts
}

func (d *Device) raise(bits uint32) {
	if d.isr == 0 {
		d.interrupts++
	}
	d.isr |= bits
}

// New returns a device over mem.
func New(mem *Memory, opt Options) *Device {
	if opt.Version == 0 {
		opt.Version = 2
	}
	if opt.DeviceID == 0 && !opt.NoDevice {
		opt.DeviceID = 1
	}
	if opt.Features == 0 {
		opt.Features = QEMUFeatures
	}
	if opt.QueueNumMax == 0 {
		opt.QueueNumMax = 256
	}
	return &Device{opt: opt, mem: mem}
}

func (d *Device) violation(format string, args ...any) {
	d.errs = append(d.errs, fmt.Sprintf(format, args...))
}

// Violations returns the protocol violations the driver committed (and the
// device's own reasons for dropping frames).
func (d *Device) Violations() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.errs...)
}

// Status returns the device status register.
func (d *Device) Status() uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.status
}

// DriverFeatures returns what the driver accepted.
func (d *Device) DriverFeatures() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.driverFeatures
}

// Notifies returns how often the driver notified queue i.
func (d *Device) Notifies(i int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.q[i].notifies
}

// QueueNum returns the size the driver chose for queue i.
func (d *Device) QueueNum(i int) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.q[i].num
}

// SetNeedsReset raises DEVICE_NEEDS_RESET.
func (d *Device) SetNeedsReset() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.status |= vm.StatusDeviceNeedsReset
	d.raise(isrConfig)
}

// Read32 implements virtionet.Regs.
func (d *Device) Read32(off uint32) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off >= vm.RegConfig {
		d.violation("32-bit read of configuration byte %#x (fields are 8-bit)", off-vm.RegConfig)
		return 0
	}
	q := &d.q[d.queueSel%2]
	switch off {
	case vm.RegMagicValue:
		return vm.Magic
	case vm.RegVersion:
		return d.opt.Version
	case vm.RegDeviceID:
		return d.opt.DeviceID
	case vm.RegVendorID:
		return 0x554d4551 // "QEMU"
	case vm.RegDeviceFeatures:
		return uint32(d.opt.Features >> (32 * (d.devSel & 1)))
	case vm.RegQueueNumMax:
		if d.queueSel > 1 {
			return 0
		}
		return d.opt.QueueNumMax
	case vm.RegQueueReady:
		if q.ready {
			return 1
		}
		return 0
	case vm.RegInterruptStatus:
		return d.isr
	case vm.RegStatus:
		return d.status
	case vm.RegConfigGeneration:
		return d.gen
	}
	d.violation("read of write-only or unknown register %#x", off)
	return 0
}

// Write32 implements virtionet.Regs.
func (d *Device) Write32(off uint32, v uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.q[d.queueSel%2]
	setupOK := d.status&vm.StatusFeaturesOK != 0 && d.status&vm.StatusDriverOK == 0
	switch off {
	case vm.RegQueueNum, vm.RegQueueReady, vm.RegQueueDescLow, vm.RegQueueDescHigh, vm.RegQueueDriverLow, vm.RegQueueDriverHigh, vm.RegQueueDeviceLow, vm.RegQueueDeviceHigh:
		if d.queueSel > 1 {
			return // no such queue (QueueNumMax 0): QEMU ignores it
		}
	}
	switch off {
	case vm.RegDeviceFeaturesSel:
		d.devSel = v
	case vm.RegDriverFeaturesSel:
		d.drvSel = v
	case vm.RegDriverFeatures:
		if d.status&vm.StatusDriver == 0 || d.status&vm.StatusFeaturesOK != 0 {
			d.violation("DriverFeatures written with status %#x", d.status)
		}
		sh := 32 * (d.drvSel & 1)
		d.driverFeatures = d.driverFeatures&^(0xffffffff<<sh) | uint64(v)<<sh
	case vm.RegQueueSel:
		d.queueSel = v
	case vm.RegQueueNum:
		if v == 0 || v&(v-1) != 0 || v > d.opt.QueueNumMax {
			d.violation("QueueNum %d (max %d, must be a power of two)", v, d.opt.QueueNumMax)
		}
		q.num = v
	case vm.RegQueueDescLow, vm.RegQueueDescHigh, vm.RegQueueDriverLow, vm.RegQueueDriverHigh, vm.RegQueueDeviceLow, vm.RegQueueDeviceHigh:
		if !setupOK || q.ready {
			d.violation("queue %d address written with status %#x, ready %v", d.queueSel, d.status, q.ready)
		}
		d.setAddr(q, off, v)
	case vm.RegQueueReady:
		if v == 1 && !setupOK {
			d.violation("QueueReady with status %#x", d.status)
		}
		q.ready = v == 1
	case vm.RegQueueNotify:
		if v > 1 || !d.q[v].ready || d.status&vm.StatusDriverOK == 0 {
			d.violation("notify of queue %d before it is live", v)
			return
		}
		d.q[v].notifies++
	case vm.RegInterruptACK:
		d.isr &^= v
	case vm.RegStatus:
		d.writeStatus(v)
	default:
		d.violation("write %#x to read-only or unknown register %#x", v, off)
	}
}

func (d *Device) setAddr(q *vq, off, v uint32) {
	p := map[uint32]*uint64{
		vm.RegQueueDescLow: &q.desc, vm.RegQueueDescHigh: &q.desc,
		vm.RegQueueDriverLow: &q.driver, vm.RegQueueDriverHigh: &q.driver,
		vm.RegQueueDeviceLow: &q.device, vm.RegQueueDeviceHigh: &q.device,
	}[off]
	if off&4 == 0 {
		*p = *p&^0xffffffff | uint64(v)
	} else {
		*p = *p&0xffffffff | uint64(v)<<32
	}
}

func (d *Device) writeStatus(v uint32) {
	if v == 0 {
		d.status, d.devSel, d.drvSel, d.driverFeatures, d.queueSel = 0, 0, 0, 0, 0
		d.q = [2]vq{}
		return
	}
	if v&^d.status&vm.StatusFeaturesOK != 0 {
		if d.driverFeatures&^d.opt.Features != 0 {
			d.violation("driver accepted features %#x not offered (%#x)", d.driverFeatures, d.opt.Features)
		}
		if d.driverFeatures&FeatureVersion1 == 0 || d.opt.RefuseFeatures {
			v &^= vm.StatusFeaturesOK
		}
	}
	if v&^d.status&vm.StatusDriverOK != 0 && d.status&vm.StatusFeaturesOK == 0 {
		d.violation("DRIVER_OK without FEATURES_OK (status %#x)", d.status)
	}
	if v&vm.StatusDeviceNeedsReset == 0 {
		v |= d.status & vm.StatusDeviceNeedsReset
	}
	d.status = v
	if d.status&vm.StatusDriverOK != 0 {
		for i := range d.q {
			if d.q[i].ready {
				d.setUsedFlags(&d.q[i])
			}
		}
	}
}

// Read8 implements virtionet.Regs: the configuration space (5.1.4), a
// struct virtio_net_config whose first field is the MAC address.
func (d *Device) Read8(off uint32) uint8 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off < vm.RegConfig {
		d.violation("8-bit read of control register %#x", off)
		return 0
	}
	off -= vm.RegConfig
	if off < 6 {
		return d.opt.MAC[off]
	}
	return 0 // status, max_virtqueue_pairs, mtu, ...: zero
}

// BumpConfigGeneration simulates a configuration change.
func (d *Device) BumpConfigGeneration() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.gen++
}

// ring access ---------------------------------------------------------

func (d *Device) live(i int) bool {
	return d.status&vm.StatusDriverOK != 0 && d.q[i].ready && d.status&vm.StatusDeviceNeedsReset == 0
}

func (d *Device) u32(pa uint64) *uint32 {
	b := d.mem.At(pa, 4)
	if b == nil {
		return nil
	}
	return (*uint32)(unsafe.Pointer(&b[0]))
}

// availIdx reads avail.idx (acquire).
func (d *Device) availIdx(q *vq) uint16 {
	return uint16(atomic.LoadUint32(d.u32(q.driver)) >> 16)
}

func (d *Device) setUsedFlags(q *vq) {
	var f uint32
	if d.opt.NoNotify {
		f = usedFNoNotify
	}
	atomic.StoreUint32(d.u32(q.device), f|uint32(q.usedIdx)<<16)
}

// chain is one descriptor chain: its head and its buffers.
type chain struct {
	head  uint16
	bufs  [][]byte
	write []bool
}

// pop takes the next available chain of queue q, or reports none.
func (d *Device) pop(q *vq) (c chain, ok bool) {
	if d.availIdx(q) == q.lastAvail {
		return c, false
	}
	slot := uint64(q.lastAvail % uint16(q.num))
	ring := d.mem.At(q.driver+4+2*slot, 2)
	c.head = binary.LittleEndian.Uint16(ring)
	q.lastAvail++
	i := c.head
	for n := 0; ; n++ {
		if uint32(i) >= q.num || n >= int(q.num) {
			d.violation("descriptor chain from %d runs off the table (at %d)", c.head, i)
			return c, true
		}
		desc := d.mem.At(q.desc+16*uint64(i), 16)
		addr := binary.LittleEndian.Uint64(desc)
		ln := binary.LittleEndian.Uint32(desc[8:])
		flags := binary.LittleEndian.Uint16(desc[12:])
		buf := d.mem.At(addr, int(ln))
		if buf == nil {
			d.violation("descriptor %d points at %#x+%d, outside DMA memory", i, addr, ln)
			return c, true
		}
		c.bufs = append(c.bufs, buf)
		c.write = append(c.write, flags&descFWrite != 0)
		if flags&descFNext == 0 {
			return c, true
		}
		i = binary.LittleEndian.Uint16(desc[14:])
	}
}

// push returns chain head to the driver with n bytes written.
func (d *Device) push(q *vq, head uint16, n uint32) {
	slot := uint64(q.usedIdx % uint16(q.num))
	e := d.mem.At(q.device+4+8*slot, 8)
	binary.LittleEndian.PutUint32(e, uint32(head))
	binary.LittleEndian.PutUint32(e[4:], n)
	q.usedIdx++
	d.setUsedFlags(q) // release: the element before the index
	if d.driverFeatures&vm.FeatureEventIdx != 0 {
		// 2.7.7.2, as QEMU's virtio_split_should_notify: interrupt when
		// the used index passes the driver's used_event, after the ring.
		ev := binary.LittleEndian.Uint16(d.mem.At(q.driver+4+2*uint64(q.num), 2))
		old, valid := q.signalled, q.signalledValid
		q.signalled, q.signalledValid = q.usedIdx, true
		if !valid || q.usedIdx-ev-1 < q.usedIdx-old {
			d.raise(isrUsedBuffer)
		}
		return
	}
	if binary.LittleEndian.Uint16(d.mem.At(q.driver, 2))&availFNoIntr == 0 {
		d.raise(isrUsedBuffer)
	}
}

// Transmitted consumes every frame the driver has made available on the
// transmit queue and returns them, virtio header stripped.
func (d *Device) Transmitted() [][]byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	q := &d.q[1]
	if !d.live(1) {
		return nil
	}
	var frames [][]byte
	for {
		c, ok := d.pop(q)
		if !ok {
			return frames
		}
		var pkt []byte
		for i, b := range c.bufs {
			if c.write[i] {
				d.violation("transmit descriptor chain %d has a device-writable buffer", c.head)
			}
			pkt = append(pkt, b...)
		}
		if len(pkt) < netHdrSize {
			d.violation("transmit buffer of %d bytes is shorter than the virtio-net header", len(pkt))
		} else {
			if hdr := pkt[:netHdrSize]; hdr[0] != 0 || hdr[1] != 0 {
				d.violation("transmit header asks for offloads (flags %#x, gso_type %#x) none of which were negotiated", hdr[0], hdr[1])
			}
			frames = append(frames, pkt[netHdrSize:])
		}
		d.push(q, c.head, 0)
	}
}

// Receive queues frame for the driver; it is written into the next receive
// buffer the driver makes available (now, or in a later Flush).
func (d *Device) Receive(frame []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.pending = append(d.pending, append([]byte(nil), frame...))
	d.flush()
}

// Flush writes pending frames into available receive buffers and returns
// how many are still pending.
func (d *Device) Flush() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.flush()
	return len(d.pending)
}

func (d *Device) flush() {
	q := &d.q[0]
	if !d.live(0) {
		return
	}
	for len(d.pending) > 0 {
		c, ok := d.pop(q)
		if !ok {
			return
		}
		frame := d.pending[0]
		d.pending = d.pending[1:]
		hdr := make([]byte, netHdrSize)
		binary.LittleEndian.PutUint16(hdr[10:], 1) // num_buffers
		data := append(hdr, frame...)
		n := 0
		for i, b := range c.bufs {
			if !c.write[i] {
				d.violation("receive descriptor chain %d has a device-readable buffer", c.head)
				continue
			}
			n += copy(b, data[n:])
		}
		if n < len(data) {
			// QEMU without mergeable buffers drops a frame that does not fit.
			d.violation("frame of %d bytes dropped: receive buffer %d holds %d", len(data), c.head, n)
			d.push(q, c.head, 0)
			continue
		}
		d.push(q, c.head, uint32(n))
	}
}

// CorruptUsed writes a used element for queue i naming descriptor id with
// length n and advances used.idx: a device breaking the protocol.
func (d *Device) CorruptUsed(i int, id uint16, n uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.push(&d.q[i], id, n)
}
