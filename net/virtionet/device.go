// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"crypto/rand"
	"errors"
	"fmt"
	"net"

	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/net/link"
)

// Network device layout (5.1 "Network Device").
const (
	queueReceive  = 0 // receiveq1 (5.1.2 "Virtqueues")
	queueTransmit = 1 // transmitq1

	// netHdrSize is struct virtio_net_hdr with num_buffers, which every
	// buffer starts with once VIRTIO_F_VERSION_1 is negotiated
	// (5.1.6 "Device Operation"): flags u8, gso_type u8, hdr_len le16,
	// gso_size le16, csum_start le16, csum_offset le16, num_buffers le16.
	netHdrSize = 12

	configOffMAC = 0 // struct virtio_net_config: u8 mac[6] (5.1.4)
	macLen       = 6

	// First-octet bits of a MAC address (IEEE 802, 8.2 "Address
	// representation"): group (multicast) and locally administered.
	macGroupBit = 0x01
	macLocalBit = 0x02

	// minRxBuffer is the smallest receive buffer without mergeable
	// buffers or guest segmentation offload (5.1.6.3.1: "at least 1526
	// bytes"): a 1514-byte frame and the header, whatever our MTU.
	minRxBuffer = 1526

	// EthernetHeaderSize is destination, source and EtherType (no VLAN
	// tag: none is negotiated).
	EthernetHeaderSize = 14
)

// MTU limits. The largest MTU is the largest IPv4 packet; every receive
// buffer must hold a whole frame (no mergeable buffers, 5.1.6.3.1).
const (
	MinMTU = 576   // IPv4's minimum reassembly size (RFC 791)
	MaxMTU = 65535 // IPv4 total length is 16 bits
)

// Default queue sizing: queues get at most defaultQueueSize entries and at
// most defaultQueueBytes of buffers each, so a 64 KiB MTU costs 4 MiB per
// direction and a 1500-byte MTU 256 buffers.
const (
	defaultQueueSize  = 256
	defaultQueueBytes = 4 << 20
	minQueueSize      = 8
)

// Options configure Open.
type Options struct {
	// MTU is the largest IP packet (Ethernet payload) in bytes, MinMTU to
	// MaxMTU. Transmit buffers hold 12+14+MTU bytes, receive buffers as
	// much but at least 1526.
	MTU int
	// QueueSize caps the entries of each queue (power of two; 0: 256).
	QueueSize int
	// QueueBytes caps the buffer memory of each queue (0: 4 MiB).
	QueueBytes int
}

// Stats counts a device's traffic (link.Stats). Bytes are Ethernet frame
// bytes (header included, virtio header excluded); the notifies are queue
// notifications sent to the device.
type Stats = link.Stats

// checkEvery is how many idle polls pass between device status checks
// (Idle).
const checkEvery = 4096

// Device is a live virtio-net device: the receive queue full of empty
// buffers, the transmit queue with buffers free for frames. It is not safe
// for concurrent use; Endpoint serialises access to it.
type Device struct {
	t        *Transport
	offered  uint64 // features the device offered
	features uint64 // features negotiated
	mac      net.HardwareAddr
	mtu      int
	rx, tx   *queue
	txFree   []uint16 // transmit buffers the driver holds
	txKick   bool     // transmit buffers posted since the last notification
	stats    Stats
	err      error // sticky: the device broke the protocol
	checkDue bool  // a configuration-change interrupt came: Check at the next chance
	idle     uint  // idle polls, for checkEvery
}

var _ link.Device = (*Device)(nil)

// InterruptStatus bits (4.2.2 "MMIO Device Register Layout").
const (
	InterruptUsedBuffer = 1 << 0 // a queue's device returned a buffer
	InterruptConfig     = 1 << 1 // the configuration (or DEVICE_NEEDS_RESET) changed
)

// ErrQueueFull is returned by Transmit when every transmit buffer is with
// the device (link.ErrQueueFull).
var ErrQueueFull = link.ErrQueueFull

// New initialises the network device behind r (base is its physical
// address, for messages), taking DMA memory from dma: reset, feature
// negotiation, the MAC address, both queues, DRIVER_OK, and the receive
// queue filled with buffers.
func New(r Regs, base uint64, dma DMA, opt Options) (*Device, error) {
	if opt.MTU < MinMTU || opt.MTU > MaxMTU {
		return nil, fmt.Errorf("virtio-mmio %#x: MTU %d out of range [%d, %d]", base, opt.MTU, MinMTU, MaxMTU)
	}
	t := NewTransport(r, base)
	offered, feat, err := t.Begin(DeviceIDNetwork, negotiate)
	if err != nil {
		return nil, err
	}
	d := &Device{t: t, offered: offered, features: feat, mtu: opt.MTU}
	if d.mac, err = d.readMAC(); err != nil {
		t.Fail()
		return nil, err
	}
	bufSize := netHdrSize + EthernetHeaderSize + opt.MTU
	if d.rx, err = d.setupQueue(dma, "receive", queueReceive, max(bufSize, minRxBuffer), opt); err != nil {
		t.Fail()
		return nil, err
	}
	if d.tx, err = d.setupQueue(dma, "transmit", queueTransmit, bufSize, opt); err != nil {
		t.Fail()
		return nil, err
	}
	if err := t.DriverOK(); err != nil {
		return nil, err
	}
	for i := range d.rx.size {
		d.rx.post(i, 0, true)
	}
	d.rx.publish()
	t.Notify(queueReceive)
	d.txFree = make([]uint16, 0, d.tx.size)
	for i := range d.tx.size {
		d.txFree = append(d.txFree, d.tx.size-1-i)
	}
	return d, nil
}

// readMAC reads the device's MAC address (5.1.4) when it offers one, and
// otherwise makes up a random locally administered unicast address.
func (d *Device) readMAC() (net.HardwareAddr, error) {
	if d.features&featureNetMAC == 0 {
		mac := make(net.HardwareAddr, macLen)
		rand.Read(mac)
		mac[0] = mac[0]&^macGroupBit | macLocalBit
		return mac, nil
	}
	b, err := d.t.ReadConfig(configOffMAC, macLen)
	if err != nil {
		return nil, fmt.Errorf("reading the MAC address: %w", err)
	}
	return net.HardwareAddr(b), nil
}

func (d *Device) setupQueue(dma DMA, name string, idx uint32, bufSize int, opt Options) (*queue, error) {
	max, err := d.t.QueueMax(idx)
	if err != nil {
		return nil, err
	}
	n := queueSize(int(max), bufSize, opt)
	if n < minQueueSize {
		return nil, d.t.errorf("%s queue: only %d entries fit (QueueNumMax %d, %d-byte buffers)", name, n, max, bufSize)
	}
	q, err := newQueue(dma, name, idx, uint16(n), bufSize)
	if err != nil {
		return nil, d.t.errorf("%v", err)
	}
	d.t.SetQueue(idx, q.size, q.descPA, q.availPA, q.usedPA)
	return q, nil
}

// queueSize is the largest power of two within the device's maximum, the
// entry cap and the memory cap.
func queueSize(max, bufSize int, opt Options) int {
	limit := opt.QueueSize
	if limit <= 0 {
		limit = defaultQueueSize
	}
	bytes := opt.QueueBytes
	if bytes <= 0 {
		bytes = defaultQueueBytes
	}
	limit = min(limit, max, bytes/alignUp(bufSize, bufAlign))
	n := 1
	for n*2 <= limit {
		n *= 2
	}
	if limit < 1 {
		return 0
	}
	return n
}

// MAC is the device's MAC address.
func (d *Device) MAC() net.HardwareAddr { return d.mac }

// MTU is the largest IP packet the device's buffers carry.
func (d *Device) MTU() int { return d.mtu }

// MaxFrame is the largest Ethernet frame (header included) it carries.
func (d *Device) MaxFrame() int { return d.mtu + EthernetHeaderSize }

// QueueSizes reports the receive and transmit queue sizes in use.
func (d *Device) QueueSizes() (rx, tx int) { return int(d.rx.size), int(d.tx.size) }

// Features returns the features the device offered and those negotiated.
func (d *Device) Features() (offered, accepted uint64) { return d.offered, d.features }

// String describes the device for logs: transport, MAC, MTU, queue sizes
// and features.
func (d *Device) String() string {
	return fmt.Sprintf("virtio-net at %#x, MAC %v, MTU %d, queues rx %d tx %d, features %s (offered %s)",
		d.t.base, d.mac, d.mtu, d.rx.size, d.tx.size, DescribeFeatures(d.features), DescribeFeatures(d.offered))
}

// Stats returns the traffic counters.
func (d *Device) Stats() Stats { return d.stats }

// Err returns the error that stopped the device, if any: the device broke
// the virtqueue protocol or asked to be reset. A stopped device moves no
// more frames.
func (d *Device) Err() error { return d.err }

func (d *Device) stop(err error) {
	if d.err == nil {
		d.err = fmt.Errorf("virtio-mmio %#x: %w", d.t.base, err)
		d.t.Fail()
	}
}

// TxFree reports how many frames Transmit can take now.
func (d *Device) TxFree() int { return len(d.txFree) }

// Transmit copies one Ethernet frame, given as consecutive pieces, into a
// transmit buffer and posts it. The device sees it after Flush. A frame
// longer than MaxFrame is dropped and counted; ErrQueueFull means no
// buffer is free (call Reclaim).
func (d *Device) Transmit(pieces ...[]byte) error {
	if d.err != nil {
		return d.err
	}
	n := 0
	for _, p := range pieces {
		n += len(p)
	}
	if n > d.MaxFrame() {
		d.stats.TxDrops++
		return fmt.Errorf("virtio-net: frame of %d bytes exceeds the %d-byte maximum (MTU %d)", n, d.MaxFrame(), d.mtu)
	}
	if len(d.txFree) == 0 {
		return ErrQueueFull
	}
	i := d.txFree[len(d.txFree)-1]
	d.txFree = d.txFree[:len(d.txFree)-1]
	b := d.tx.bufs[i]
	clear(b[:netHdrSize]) // no offloads: flags 0, GSO_NONE (5.1.6.2)
	off := netHdrSize
	for _, p := range pieces {
		off += copy(b[off:], p)
	}
	d.tx.post(i, off, false)
	d.txKick = true
	d.stats.TxFrames++
	d.stats.TxBytes += uint64(n)
	return nil
}

// Flush publishes the frames posted by Transmit and notifies the device if
// it wants to be.
func (d *Device) Flush() {
	if !d.txKick || d.err != nil {
		return
	}
	d.txKick = false
	if d.tx.publish() {
		d.stats.TxNotifies++
		d.t.Notify(queueTransmit)
	}
}

// Reclaim takes back the transmit buffers the device has sent and returns
// how many.
func (d *Device) Reclaim() int {
	n := 0
	for d.err == nil {
		i, _, ok, err := d.tx.next()
		if err != nil {
			d.stop(err)
			break
		}
		if !ok {
			break
		}
		d.txFree = append(d.txFree, i)
		n++
	}
	return n
}

// Receive hands up to max received frames to deliver, in order, and gives
// their buffers back to the device. frame is the Ethernet frame (virtio
// header stripped), valid only during the call. It returns how many
// frames it took from the device.
func (d *Device) Receive(max int, deliver func(frame []byte)) int {
	n := 0
	for n < max && d.err == nil {
		i, ln, ok, err := d.rx.next()
		if err != nil {
			d.stop(err)
			break
		}
		if !ok {
			break
		}
		n++
		if ln < netHdrSize+EthernetHeaderSize {
			d.stats.RxDrops++
		} else {
			frame := d.rx.bufs[i][netHdrSize:ln]
			d.stats.RxFrames++
			d.stats.RxBytes += uint64(len(frame))
			deliver(frame)
		}
		d.rx.post(i, 0, true)
	}
	if n > 0 && d.rx.publish() {
		d.stats.RxNotifies++
		d.t.Notify(queueReceive)
	}
	return n
}

// Interrupt takes the device's interrupt: it acknowledges what the device
// signalled (InterruptStatus written back to InterruptACK, 4.2.2, which
// lowers the line) and asks it not to interrupt again for used buffers
// until Arm (2.7.7). It returns the status bits, 0 if the interrupt was
// not the device's. It takes no lock: call it only where no goroutine can
// be inside the device (Ferry's interrupt paths, which run between
// goroutines on its one CPU).
func (d *Device) Interrupt() uint32 {
	st := d.t.r.Read32(vm.RegInterruptStatus)
	if st != 0 {
		d.t.r.Write32(vm.RegInterruptACK, st)
	}
	d.rx.setInterrupt(false)
	d.tx.setInterrupt(false)
	if st&InterruptConfig != 0 {
		d.checkDue = true
	}
	return st
}

// Arm lets the device interrupt when it next uses a buffer: a received
// frame, and -- when txWait, frames waiting for a transmit buffer -- a sent
// one. It reports whether buffers were already used, which the device may
// never interrupt for: the caller polls again instead of waiting.
func (d *Device) Arm(txWait bool) (used bool) {
	d.rx.setInterrupt(true)
	d.tx.setInterrupt(txWait)
	return d.rx.returned() || txWait && d.tx.returned() || d.checkDue
}

// Idle is called when a poll moved nothing (link.Device): a register read
// is a trip into the device model (under QEMU, its global lock), so it
// looks for DEVICE_NEEDS_RESET only every checkEvery idle polls, or when a
// configuration interrupt said so.
func (d *Device) Idle() {
	if d.idle++; d.idle%checkEvery == 0 || d.checkDue {
		d.Check()
	}
}

// Check reads the device status and stops the device if it has asked to
// be reset (2.1.1). Call it when idle: it costs a register read.
func (d *Device) Check() error {
	d.checkDue = false
	if d.err == nil && d.t.NeedsReset() {
		d.stop(errors.New("device set DEVICE_NEEDS_RESET"))
	}
	return d.err
}
