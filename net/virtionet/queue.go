// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"encoding/binary"
	"fmt"
	"sync/atomic"
	"unsafe"
)

// Split virtqueue layout (2.7 "Split Virtqueues").
//
//	descriptor table  struct virtq_desc  { le64 addr; le32 len; le16 flags; le16 next; } [size]   align 16
//	available ring    struct virtq_avail { le16 flags; le16 idx; le16 ring[size]; le16 used_event; } align 2
//	used ring         struct virtq_used  { le16 flags; le16 idx; struct { le32 id; le32 len; } ring[size]; le16 avail_event; } align 4
const (
	descSize      = 16 // 2.7.5 "The Virtqueue Descriptor Table"
	descAlign     = 16 // 2.7 "Split Virtqueues", alignment table
	descOffAddr   = 0
	descOffLen    = 8
	descOffFlags  = 12
	descOffNext   = 14
	ringHdrSize   = 4 // flags and idx of either ring
	availElemSize = 2 // 2.7.6 "The Virtqueue Available Ring"
	availAlign    = 2
	usedElemSize  = 8 // 2.7.8 "The Virtqueue Used Ring"
	usedAlign     = 4
	usedOffID     = 0
	usedOffLen    = 4
	ringEventSize = 2 // used_event / avail_event (only with VIRTIO_F_EVENT_IDX, not negotiated; space kept)

	// maxQueueSize is the largest split queue size (2.7: "Queue Size ...
	// maximum ... 32768").
	maxQueueSize = 32768
)

// Descriptor and ring flags.
const (
	descFNext     = 1 // VIRTQ_DESC_F_NEXT: the buffer continues in the descriptor named by next
	descFWrite    = 2 // VIRTQ_DESC_F_WRITE: the device writes the buffer (device-writable)
	descFIndirect = 4 // VIRTQ_DESC_F_INDIRECT (not used)

	availFNoInterrupt = 1 // VIRTQ_AVAIL_F_NO_INTERRUPT: do not interrupt when a buffer is used (2.7.7)
	usedFNoNotify     = 1 // VIRTQ_USED_F_NO_NOTIFY: the device polls; no need to notify (2.7.10)
)

// queue is one split virtqueue whose descriptor i always points at buffer
// i (a fixed-size slice of DMA memory): a buffer is posted by writing
// descriptor i's length and flags and putting i in the available ring, and
// comes back as used element i. No chains, no indirect descriptors.
//
// The ring header words (flags and idx of each ring) are read and written
// with 32-bit atomic operations: the store of avail.idx has release
// semantics (the descriptor and ring-entry stores before it are visible to
// the device first, 2.7.13 "Supplying Buffers to The Device", step 3), the
// load of used.idx has acquire semantics (the used element behind it is
// read after it, 2.7.14). Both rings' flags and idx are adjacent 16-bit
// fields at a 4-byte aligned offset, read as one little-endian word: the
// driver assumes a little-endian CPU (arm64 as Ferry runs it, amd64 for
// tests).
type queue struct {
	name  string // "receive" or "transmit", for errors
	index uint32 // virtqueue number on the device
	size  uint16

	mem                     []byte // descriptor table, available ring, used ring
	desc, avail, used       []byte
	descPA, availPA, usedPA uint64

	bufs     [][]byte // buffer i, described by descriptor i
	bufPA    []uint64
	inFlight []bool // buffer i is the device's

	availIdx  uint16 // next available-ring index the driver fills (free-running)
	published uint16 // avail.idx as last stored
	usedIdx   uint16 // next used-ring index the driver reads (free-running)
	out       int    // buffers the device holds
	interrupt bool   // the device may interrupt when it uses a buffer (VIRTQ_AVAIL_F_NO_INTERRUPT clear)
}

// queueLayout returns the offsets of the available and used rings and the
// total size of a queue of n entries.
func queueLayout(n int) (availOff, usedOff, total int) {
	availOff = n * descSize
	usedOff = alignUp(availOff+ringHdrSize+n*availElemSize+ringEventSize, usedAlign)
	total = usedOff + ringHdrSize + n*usedElemSize + ringEventSize
	return availOff, usedOff, total
}

func alignUp(n, a int) int { return (n + a - 1) &^ (a - 1) }

// newQueue allocates queue index of size entries (a power of two) and size
// buffers of bufSize bytes each (rounded up to stride), all from dma.
func newQueue(dma DMA, name string, index uint32, size uint16, bufSize int) (*queue, error) {
	if size == 0 || size&(size-1) != 0 {
		return nil, fmt.Errorf("%s queue: size %d is not a power of two", name, size)
	}
	n := int(size)
	availOff, usedOff, total := queueLayout(n)
	mem, pa, err := dma.Alloc(total, descAlign)
	if err != nil {
		return nil, fmt.Errorf("%s queue: rings (%d bytes): %w", name, total, err)
	}
	stride := alignUp(bufSize, bufAlign)
	pool, poolPA, err := dma.Alloc(stride*n, bufAlign)
	if err != nil {
		return nil, fmt.Errorf("%s queue: %d buffers of %d bytes: %w", name, n, stride, err)
	}
	q := &queue{
		name: name, index: index, size: size,
		mem:      mem,
		desc:     mem[:availOff],
		avail:    mem[availOff:usedOff],
		used:     mem[usedOff:total],
		descPA:   pa,
		availPA:  pa + uint64(availOff),
		usedPA:   pa + uint64(usedOff),
		bufs:     make([][]byte, n),
		bufPA:    make([]uint64, n),
		inFlight: make([]bool, n),
	}
	for i := range n {
		q.bufs[i] = pool[i*stride : i*stride+bufSize : i*stride+bufSize]
		q.bufPA[i] = poolPA + uint64(i*stride)
		d := q.desc[i*descSize:]
		binary.LittleEndian.PutUint64(d[descOffAddr:], q.bufPA[i])
	}
	q.storeAvailHeader()
	return q, nil
}

// bufAlign aligns each buffer to a cache line.
const bufAlign = 64

func word(b []byte) *uint32 { return (*uint32)(unsafe.Pointer(&b[0])) }

func (q *queue) storeAvailHeader() {
	flags := uint32(availFNoInterrupt)
	if q.interrupt {
		flags = 0
	}
	atomic.StoreUint32(word(q.avail), flags|uint32(q.published)<<16)
}

// setInterrupt asks the device to interrupt, or not, when it uses a
// buffer (2.7.7: only a hint; the device may interrupt anyway).
func (q *queue) setInterrupt(on bool) {
	if q.interrupt != on {
		q.interrupt = on
		q.storeAvailHeader()
	}
}

// returned reports whether the device has returned buffers the driver has not
// taken yet. Its load of used.idx follows any store of the flags (both
// atomic, in program order): a device that used a buffer before it saw
// interrupts allowed is seen here.
func (q *queue) returned() bool {
	return uint16(atomic.LoadUint32(word(q.used))>>16) != q.usedIdx
}

// post gives buffer i to the device: n bytes for it to read, or (write)
// the whole buffer for it to fill. The device sees it after publish.
func (q *queue) post(i uint16, n int, write bool) {
	d := q.desc[int(i)*descSize:]
	var flags uint16
	if write {
		flags = descFWrite
		n = len(q.bufs[i])
	}
	binary.LittleEndian.PutUint32(d[descOffLen:], uint32(n))
	binary.LittleEndian.PutUint16(d[descOffFlags:], flags)
	binary.LittleEndian.PutUint16(d[descOffNext:], 0)
	slot := int(q.availIdx % q.size)
	binary.LittleEndian.PutUint16(q.avail[ringHdrSize+slot*availElemSize:], i)
	q.availIdx++
	q.inFlight[i] = true
	q.out++
}

// publish makes the posted buffers visible to the device (stores
// avail.idx) and reports whether the device wants a notification: it does
// unless it set VIRTQ_USED_F_NO_NOTIFY (2.7.10). The flag is loaded after
// the index is stored (both atomic, so in program order): a device that
// clears the flag when it runs dry either sees the new index or is
// notified.
func (q *queue) publish() (notify bool) {
	if q.published == q.availIdx {
		return false
	}
	q.published = q.availIdx
	q.storeAvailHeader()
	return atomic.LoadUint32(word(q.used))&usedFNoNotify == 0
}

// next returns the next buffer the device has finished with and the
// number of bytes it wrote into it. ok is false when there is none. An
// error means the device broke the protocol (an element for a buffer it
// does not hold, a length beyond the buffer, more elements than buffers).
func (q *queue) next() (i uint16, n int, ok bool, err error) {
	hdr := atomic.LoadUint32(word(q.used))
	idx := uint16(hdr >> 16)
	if idx == q.usedIdx {
		return 0, 0, false, nil
	}
	if pending := int(idx - q.usedIdx); pending > q.out {
		return 0, 0, false, fmt.Errorf("%s queue: used.idx %d is %d ahead of the driver's %d, but the device holds only %d buffers",
			q.name, idx, pending, q.usedIdx, q.out)
	}
	e := q.used[ringHdrSize+int(q.usedIdx%q.size)*usedElemSize:]
	id := binary.LittleEndian.Uint32(e[usedOffID:])
	ln := binary.LittleEndian.Uint32(e[usedOffLen:])
	if id >= uint32(q.size) || !q.inFlight[id] {
		return 0, 0, false, fmt.Errorf("%s queue: used element %d names descriptor %d, which the device does not hold", q.name, q.usedIdx, id)
	}
	if int64(ln) > int64(len(q.bufs[id])) {
		return 0, 0, false, fmt.Errorf("%s queue: device wrote %d bytes into descriptor %d of %d bytes", q.name, ln, id, len(q.bufs[id]))
	}
	q.usedIdx++
	q.inFlight[id] = false
	q.out--
	return uint16(id), int(ln), true, nil
}
