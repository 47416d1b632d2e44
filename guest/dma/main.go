// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-dma is the test guest's hostile driver (guest.mode=dma):
// it takes the guest's NIC from Linux's driver and programs its
// virtio-mmio transport itself through /dev/mem, to make the device read
// Ferry's memory -- first with its rings there, then with one transmit
// buffer there, which the device would send out on the wire. It prints
//
//	FERRY-DMA rings-in-target ready=<QueueReady read back>
//	FERRY-DMA buffer-in-target ready=<0|1> used=<the used index>
//	FERRY-DMA wide ready=<0|1> used=<the used index>
//	FERRY-DMA done
//
// The third is the second written 64 bits at a time (str x): the ring
// addresses in one store each, QueueReady through a store of 1<<32 at
// 0x40, the kick at 0x50. QEMU splits each into two 32-bit register
// writes, so natively the device takes the rings as with 32-bit stores.
// Ferry refuses all three before the device sees them (ready=0, then
// used=0 twice) and reports it on its console. Built for the guest
// (GOARCH=arm64) by scripts/guest.sh.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"
)

// virtio-mmio registers and status bits (virtio 1.2, 4.2.2).
const (
	regDriverFeatures    = 0x020
	regDriverFeaturesSel = 0x024
	regQueueSel          = 0x030
	regQueueNum          = 0x038
	regQueueReady        = 0x044
	regQueueNotify       = 0x050
	regStatus            = 0x070
	regQueueDescLow      = 0x080
	regQueueDriverLow    = 0x090
	regQueueDeviceLow    = 0x0a0

	statusAck, statusDriver, statusDriverOK, statusFeaturesOK = 1, 2, 4, 8

	txQueue = 1
	qSize   = 8
	page    = 4096
)

func main() {
	nic := flag.String("nic", "0xa003c00", "the guest NIC's transport (physical address)")
	target := flag.String("target", "", "the physical address to point the device at (Ferry's carve-out)")
	flag.Parse()
	base, err1 := strconv.ParseUint(*nic, 0, 64)
	to, err2 := strconv.ParseUint(*target, 0, 64)
	if err1 != nil || err2 != nil || to == 0 {
		fail(fmt.Errorf("-nic %q -target %q: want two addresses", *nic, *target))
	}
	// Linux's driver lets go of the device (it resets it): its page is
	// then no longer busy, and /dev/mem maps it.
	unbind := fmt.Sprintf("%x.virtio_mmio", base)
	if err := os.WriteFile("/sys/bus/platform/drivers/virtio-mmio/unbind", []byte(unbind), 0); err != nil {
		fmt.Println("FERRY-DMA note: unbind", unbind+":", err)
	}
	mem, err := os.OpenFile("/dev/mem", os.O_RDWR|os.O_SYNC, 0)
	if err != nil {
		fail(err)
	}
	m, err := syscall.Mmap(int(mem.Fd()), int64(base&^(page-1)), page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_SHARED)
	if err != nil {
		fail(fmt.Errorf("mmap of the transport: %w", err))
	}
	r := regs{unsafe.Pointer(&m[base&(page-1)])}

	r.features()

	// 1. The transmit queue's rings in the target.
	r.queue(txQueue, to, to+0x100, to+0x200)
	fmt.Printf("FERRY-DMA rings-in-target ready=%d\n", r.r(regQueueReady))

	// 2. The rings in this process's own page of guest RAM, one transmit
	// buffer in the target.
	ring, pa := lockedPage()
	binary.LittleEndian.PutUint64(ring[0:], to) // descriptor 0: addr
	binary.LittleEndian.PutUint32(ring[8:], page)
	binary.LittleEndian.PutUint16(ring[0x100+4:], 0) // avail ring[0] = head 0
	binary.LittleEndian.PutUint16(ring[0x100+2:], 1) // avail idx
	r.queue(txQueue, pa, pa+0x100, pa+0x200)
	ready := r.r(regQueueReady)
	r.w(regStatus, statusAck|statusDriver|statusFeaturesOK|statusDriverOK)
	r.w(regQueueNotify, txQueue)
	time.Sleep(500 * time.Millisecond)
	used := atomic.LoadUint32((*uint32)(unsafe.Pointer(&ring[0x200]))) >> 16
	fmt.Printf("FERRY-DMA buffer-in-target ready=%d used=%d\n", ready, used)
	r.w(regStatus, 0)

	// 3. The same with 64-bit stores, one transmit buffer at target+0x2000.
	r.features()
	wide, wpa := lockedPage()
	binary.LittleEndian.PutUint64(wide[0:], to+0x2000)
	binary.LittleEndian.PutUint32(wide[8:], page)
	binary.LittleEndian.PutUint16(wide[0x100+4:], 0)
	binary.LittleEndian.PutUint16(wide[0x100+2:], 1)
	r.w(regQueueSel, txQueue)
	r.w(regQueueNum, qSize)
	r.w64(regQueueDescLow, wpa)
	r.w64(regQueueDriverLow, wpa+0x100)
	r.w64(regQueueDeviceLow, wpa+0x200)
	r.w64(regQueueReady-4, 1<<32) // QueueReady = 1, in the high half
	ready = r.r(regQueueReady)
	r.w(regStatus, statusAck|statusDriver|statusFeaturesOK|statusDriverOK)
	r.w64(regQueueNotify, txQueue)
	time.Sleep(500 * time.Millisecond)
	used = atomic.LoadUint32((*uint32)(unsafe.Pointer(&wide[0x200]))) >> 16
	fmt.Printf("FERRY-DMA wide ready=%d used=%d\n", ready, used)
	r.w(regStatus, 0)
	fmt.Println("FERRY-DMA done")
}

// features resets the device and takes VIRTIO_F_VERSION_1 alone.
func (r regs) features() {
	r.w(regStatus, 0)
	r.w(regStatus, statusAck)
	r.w(regStatus, statusAck|statusDriver)
	r.w(regDriverFeaturesSel, 1)
	r.w(regDriverFeatures, 1) // VIRTIO_F_VERSION_1
	r.w(regDriverFeaturesSel, 0)
	r.w(regDriverFeatures, 0)
	r.w(regStatus, statusAck|statusDriver|statusFeaturesOK)
}

// regs is the transport's registers, mapped.
type regs struct{ p unsafe.Pointer }

func (r regs) at(off uintptr) *uint32  { return (*uint32)(unsafe.Add(r.p, off)) }
func (r regs) w(off uintptr, v uint32) { atomic.StoreUint32(r.at(off), v) }
func (r regs) r(off uintptr) uint32    { return atomic.LoadUint32(r.at(off)) }

// w64 is one 64-bit store (str x, as an atomic store-release: one access
// with a valid syndrome at Ferry's trap).
func (r regs) w64(off uintptr, v uint64) { atomic.StoreUint64((*uint64)(unsafe.Add(r.p, off)), v) }

// queue sets queue q up with size qSize at the three addresses and makes
// it ready.
func (r regs) queue(q uint32, desc, avail, used uint64) {
	r.w(regQueueSel, q)
	r.w(regQueueNum, qSize)
	for _, a := range []struct {
		off  uintptr
		addr uint64
	}{{regQueueDescLow, desc}, {regQueueDriverLow, avail}, {regQueueDeviceLow, used}} {
		r.w(a.off, uint32(a.addr))
		r.w(a.off+4, uint32(a.addr>>32))
	}
	r.w(regQueueReady, 1)
}

// lockedPage is a page of this process's memory that stays where it is,
// and its physical address (from /proc/self/pagemap: bits 0-54 are the
// frame number of a present page; root reads them).
func lockedPage() ([]byte, uint64) {
	b, err := syscall.Mmap(-1, 0, page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		fail(err)
	}
	if err := syscall.Mlock(b); err != nil {
		fail(err)
	}
	b[0] = 1
	f, err := os.Open("/proc/self/pagemap")
	if err != nil {
		fail(err)
	}
	var e [8]byte
	if _, err := f.ReadAt(e[:], int64(uintptr(unsafe.Pointer(&b[0]))/page*8)); err != nil {
		fail(err)
	}
	v := binary.LittleEndian.Uint64(e[:])
	if v&(1<<63) == 0 || v&(1<<55-1) == 0 {
		fail(fmt.Errorf("pagemap entry %#x: no frame number", v))
	}
	clear(b)
	return b, (v & (1<<55 - 1)) * page
}

func fail(err error) {
	fmt.Println("FERRY-DMA BAD", err)
	os.Exit(1)
}
