// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtiommio_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

// mem is the fake bus memory by physical address.
type mem struct{ m *fakedev.Memory }

func (m mem) Slice(addr uint64, n int) ([]byte, error) {
	b := m.m.At(addr, n)
	if b == nil {
		return nil, fmt.Errorf("no memory at %#x+%d", addr, n)
	}
	return b, nil
}

const (
	ramSize  = 1 << 20
	qNum     = 16
	rxQ, txQ = 0, 1
)

var mac = [6]byte{0x52, 0x54, 0x00, 0x88, 0x00, 0x10}

// board is one board's guest RAM and device, and the model between them.
type board struct {
	t      *testing.T
	m      *fakedev.Memory
	ram    []byte
	base   uint64 // guest RAM's physical base
	ferry  uint64 // an address of Ferry's memory (not guest RAM)
	dev    *fakedev.Device
	tr     *vm.Transport
	log    []string
	wrote  []string
	pends  int
	allocs int
	shadow [][2]uint64 // the shadow memory given out: base, size
	// eventIdx: the driver takes VIRTIO_F_EVENT_IDX, which the device
	// offers.
	eventIdx bool
}

func newBoard(t *testing.T) *board { return newBoardWith(t, false) }

func newBoardWith(t *testing.T, eventIdx bool) *board {
	return newBoardOpts(t, eventIdx, fakedev.Options{MAC: mac})
}

func newBoardOpts(t *testing.T, eventIdx bool, opt fakedev.Options) *board {
	b := &board{t: t, m: fakedev.NewMemory(), eventIdx: eventIdx}
	var err error
	if b.ram, b.base, err = b.m.Alloc(ramSize, 4096); err != nil {
		t.Fatal(err)
	}
	_, b.ferry, _ = b.m.Alloc(4096, 4096)
	b.dev = fakedev.New(b.m, opt)
	b.tr = vm.New(fakedev.MMIO{D: b.dev}, vm.Shadowing{
		Guest: mem{b.m},
		InRAM: func(a, n uint64) bool { return a >= b.base && a+n >= a && a+n <= b.base+ramSize },
		Alloc: func(n uint64) (virtq.Mem, uint64, error) {
			b.allocs++
			_, pa, err := b.m.Alloc(int(n), 4096)
			b.shadow = append(b.shadow, [2]uint64{pa, n})
			return mem{b.m}, pa, err
		},
		Wrote: func(a, n uint64) { b.wrote = append(b.wrote, fmt.Sprintf("%#x+%d", a, n)) },
		Pend:  func() { b.pends++ },
	})
	b.tr.Log = func(s string) { b.log = append(b.log, s) }
	return b
}

// Guest RAM layout: each queue's rings, then buffers.
func (b *board) desc(q int) uint64   { return b.base + uint64(q)*0x2000 }
func (b *board) avail(q int) uint64  { return b.desc(q) + 16*qNum }
func (b *board) used(q int) uint64   { return b.desc(q) + 0x1000 }
func (b *board) buf(i uint16) uint64 { return b.base + 0x10000 + uint64(i)*0x800 }

func (b *board) w(off uint64, v uint32) { b.tr.Write(off, 4, uint64(v)) }
func (b *board) r(off uint64) uint32    { return uint32(b.tr.Read(off, 4)) }

func (b *board) u16(addr uint64) uint16 {
	return binary.LittleEndian.Uint16(b.m.At(addr, 2))
}
func (b *board) put16(addr uint64, v uint16) { binary.LittleEndian.PutUint16(b.m.At(addr, 2), v) }

// driver is the guest's virtio-net driver, as Linux's sets the device up
// (4.2.3.1): the features offered (less what it does not know), two
// queues of qNum, DRIVER_OK.
func (b *board) driver() {
	b.w(vm.RegStatus, 0)
	b.w(vm.RegStatus, vm.StatusAcknowledge)
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	var offered uint64
	for sel := uint32(0); sel < 2; sel++ {
		b.w(vm.RegDeviceFeaturesSel, sel)
		offered |= uint64(b.r(vm.RegDeviceFeatures)) << (32 * sel)
	}
	if offered&vm.FeatureEventIdx == 0 {
		b.t.Fatalf("EVENT_IDX not offered to the guest: %#x", offered)
	}
	want := offered &^ (1 << 17) // no control queue: two queues
	if !b.eventIdx {
		want &^= vm.FeatureEventIdx
	}
	for sel := uint32(0); sel < 2; sel++ {
		b.w(vm.RegDriverFeaturesSel, sel)
		b.w(vm.RegDriverFeatures, uint32(want>>(32*sel)))
	}
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK)
	for q := 0; q < 2; q++ {
		b.queue(q, b.desc(q), b.avail(q), b.used(q))
	}
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK|vm.StatusDriverOK)
}

func (b *board) queue(q int, desc, avail, used uint64) {
	b.w(vm.RegQueueSel, uint32(q))
	b.w(vm.RegQueueNum, qNum)
	for _, a := range []struct {
		off  uint64
		addr uint64
	}{{vm.RegQueueDescLow, desc}, {vm.RegQueueDriverLow, avail}, {vm.RegQueueDeviceLow, used}} {
		b.w(a.off, uint32(a.addr))
		b.w(a.off+4, uint32(a.addr>>32))
	}
	b.w(vm.RegQueueReady, 1)
}

// told reports whether the guest is told not to kick queue q: the used
// ring's VIRTQ_USED_F_NO_NOTIFY, or with EVENT_IDX an avail_event its next
// chain does not reach.
func (b *board) told(q int) bool {
	if b.eventIdx {
		return b.u16(b.used(q)+4+8*qNum) != b.u16(b.avail(q)+2)
	}
	return b.u16(b.used(q)) == virtq.UsedNoNotify
}

// usedEvent sets the guest's used_event of queue q (EVENT_IDX): interrupt
// me when you write used entry v.
func (b *board) usedEvent(q int, v uint16) { b.put16(b.avail(q)+4+2*qNum, v) }

// post makes one buffer available on queue q as descriptor head and
// kicks.
func (b *board) post(q int, head uint16, addr uint64, n uint32, write bool) {
	d := b.m.At(b.desc(q)+16*uint64(head), 16)
	binary.LittleEndian.PutUint64(d, addr)
	binary.LittleEndian.PutUint32(d[8:], n)
	flags := uint16(0)
	if write {
		flags = 2
	}
	binary.LittleEndian.PutUint16(d[12:], flags)
	idx := b.u16(b.avail(q) + 2)
	b.put16(b.avail(q)+4+2*uint64(idx%qNum), head)
	b.put16(b.avail(q)+2, idx+1)
	b.w(vm.RegQueueNotify, uint32(q))
}

// send puts a frame (after a zero virtio-net header) in buffer head and
// posts it on the transmit queue.
func (b *board) send(head uint16, frame []byte) {
	copy(b.m.At(b.buf(head), 12+len(frame)), append(make([]byte, 12), frame...))
	b.post(txQ, head, b.buf(head), uint32(12+len(frame)), false)
}

// interrupt is the guest's handler: InterruptStatus, InterruptACK.
func (b *board) interrupt() uint32 {
	v := b.r(vm.RegInterruptStatus)
	b.w(vm.RegInterruptACK, v)
	return v
}

// usedEntries is queue q's used ring from entry from: "head/len" each.
func (b *board) usedEntries(q int, from uint16) []string {
	var out []string
	for i := from; i != b.u16(b.used(q)+2); i++ {
		e := b.m.At(b.used(q)+4+8*uint64(i%qNum), 8)
		out = append(out, fmt.Sprintf("%d/%d", binary.LittleEndian.Uint32(e), binary.LittleEndian.Uint32(e[4:])))
	}
	return out
}

func frameN(n int) []byte { return bytes.Repeat([]byte{byte(n)}, 60) }

// eachMode runs f with the driver's EVENT_IDX off and on.
func eachMode(t *testing.T, f func(t *testing.T, eventIdx bool)) {
	for _, ev := range []bool{false, true} {
		t.Run(fmt.Sprintf("event_idx=%v", ev), func(t *testing.T) { f(t, ev) })
	}
}

// Frames go out once and come in through the shadow: the device never
// holds the guest's rings, and what it wrote is reported.
func TestTransportRelays(t *testing.T) { eachMode(t, testTransportRelays) }

func testTransportRelays(t *testing.T, ev bool) {
	b := newBoardWith(t, ev)
	b.driver()
	if got := b.tr.State(); (got.DriverFeatures&vm.FeatureEventIdx != 0) != ev || len(got.Queues) != 2 || !got.Queues[txQ].Ready {
		t.Fatalf("State %+v", got)
	}
	b.w(vm.RegQueueSel, 0)
	if got := uint64(b.r(vm.RegQueueDescLow)); got != b.desc(0)&0xffffffff {
		t.Errorf("QueueDescLow reads %#x, want the guest's %#x", got, b.desc(0))
	}
	for h := uint16(0); h < 4; h++ {
		b.post(rxQ, h, b.buf(h), 0x800, true)
	}
	// The device holds receive buffers: their used entries will interrupt
	// the guest and run the relay, so the guest need not kick to give
	// more (VIRTQ_USED_F_NO_NOTIFY, or avail_event). Nothing is held for
	// transmit yet.
	if !b.told(rxQ) || b.told(txQ) {
		t.Errorf("told not to kick: rx %v, tx %v", b.told(rxQ), b.told(txQ))
	}
	b.send(8, frameN(1))
	if !b.told(txQ) {
		t.Errorf("a transmit chain in flight, and the guest is still asked to kick")
	}
	// The guest rewrites its descriptor after the kick: the device sends
	// what was checked.
	binary.LittleEndian.PutUint64(b.m.At(b.desc(txQ)+16*8, 8), b.ferry)
	if got := b.dev.Transmitted(); len(got) != 1 || !bytes.Equal(got[0], frameN(1)) {
		t.Fatalf("transmitted %d frames", len(got))
	}
	b.dev.Receive(frameN(2))
	b.wrote = nil
	if v := b.interrupt(); v&vm.InterruptUsed == 0 {
		t.Fatalf("InterruptStatus %#x", v)
	}
	if got := b.usedEntries(txQ, 0); fmt.Sprint(got) != "[8/0]" {
		t.Errorf("transmit used %v", got)
	}
	if b.told(txQ) {
		t.Errorf("nothing in flight to transmit, and the guest is told not to kick")
	}
	if got := b.usedEntries(rxQ, 0); fmt.Sprint(got) != "[0/72]" {
		t.Fatalf("receive used %v", got)
	}
	if got := b.m.At(b.buf(0)+12, 60); !bytes.Equal(got, frameN(2)) {
		t.Errorf("received % x", got[:8])
	}
	if !slices.Contains(b.wrote, fmt.Sprintf("%#x+%d", b.buf(0), 72)) || !slices.Contains(b.wrote, fmt.Sprintf("%#x+2", b.used(rxQ)+2)) {
		t.Errorf("reported writes %v", b.wrote)
	}
	if v := b.dev.Violations(); len(v) > 0 {
		t.Errorf("the device saw %q", v)
	}
}

// A driver that points the device outside guest RAM is refused before
// the device sees it, and reported; Ferry's memory is untouched.
func TestTransportRefuses(t *testing.T) {
	b := newBoard(t)
	b.driver()
	// A transmit buffer in Ferry's memory: the device would send it.
	copy(b.m.At(b.ferry, 4), "FERRY")
	b.post(txQ, 3, b.ferry, 64, false)
	if got := b.dev.Transmitted(); len(got) != 0 || b.dev.Notifies(txQ) != 0 {
		t.Fatalf("the device sent %d frames, was kicked %d times", len(got), b.dev.Notifies(txQ))
	}
	if len(b.log) != 2 || !strings.Contains(b.log[1], "queue 1 stopped: virtq: a buffer outside guest RAM") {
		t.Fatalf("logged %q", b.log)
	}
	// The queue stays stopped: later chains do not reach the device.
	b.send(4, frameN(1))
	if got := b.dev.Transmitted(); len(got) != 0 {
		t.Fatalf("a stopped queue sent %d frames", len(got))
	}
	// Receiving still works.
	b.post(rxQ, 0, b.buf(0), 0x800, true)
	b.dev.Receive(frameN(2))
	b.interrupt()
	if got := b.usedEntries(rxQ, 0); len(got) != 1 {
		t.Errorf("receive used %v", got)
	}
	if f := b.tr.Faults(); len(f) != 1 {
		t.Errorf("Faults %q", f)
	}

	// Rings in Ferry's memory: the queue is not made ready.
	c := newBoard(t)
	c.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	c.w(vm.RegDriverFeaturesSel, 1)
	c.w(vm.RegDriverFeatures, 1)
	c.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK)
	c.queue(txQ, c.ferry, c.avail(1), c.used(1))
	if c.r(vm.RegQueueReady) != 0 || len(c.log) != 1 || !strings.Contains(c.log[0], "queue 1 refused: its descriptor table") {
		t.Fatalf("ready %d, logged %q", c.r(vm.RegQueueReady), c.log)
	}
	// The used ring there (the device would write Ferry's memory), or
	// running off the end of guest RAM: refused too.
	c.queue(txQ, c.desc(1), c.avail(1), c.ferry)
	c.queue(rxQ, c.desc(0), c.base+ramSize-16, c.used(0))
	if c.r(vm.RegQueueReady) != 0 || len(c.log) != 3 || !strings.Contains(c.log[1], "queue 1 refused: its used ring") || !strings.Contains(c.log[2], "queue 0 refused: its available ring") {
		t.Fatalf("logged %q", c.log)
	}
}

// A migration: the source's device stops with receive buffers in flight
// and a frame not yet sent; the frame goes out once, the destination's
// device gets the buffers again and carries on at the guest's positions.
func TestTransportMigrates(t *testing.T) { eachMode(t, testTransportMigrates) }

func testTransportMigrates(t *testing.T, ev bool) {
	src := newBoardWith(t, ev)
	src.driver()
	for h := uint16(0); h < 4; h++ {
		src.post(rxQ, h, src.buf(h), 0x800, true)
	}
	src.dev.Receive(frameN(1)) // used, not yet relayed
	src.send(8, frameN(2))     // not yet sent
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // the device sends it a moment later
		defer wg.Done()
		time.Sleep(20 * time.Millisecond)
		if got := src.dev.Transmitted(); len(got) != 1 {
			t.Errorf("transmitted %d frames", len(got))
		}
	}()
	src.wrote = nil
	st, err := src.tr.Stop(time.Second, false)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	if src.dev.Status() != 0 {
		t.Fatalf("the source's device is not reset: status %#x", src.dev.Status())
	}
	if got := src.usedEntries(rxQ, 0); fmt.Sprint(got) != "[0/72]" {
		t.Fatalf("receive used at the stop %v", got)
	}
	if got := src.usedEntries(txQ, 0); fmt.Sprint(got) != "[8/0]" {
		t.Fatalf("transmit used at the stop %v", got)
	}
	if !slices.Contains(src.wrote, fmt.Sprintf("%#x+%d", src.buf(0), 72)) {
		t.Errorf("the stop's writes were not reported: %v", src.wrote)
	}
	if fmt.Sprint(st.Queues[rxQ].At) != "{4 1 [1 2 3]}" || fmt.Sprint(st.Queues[txQ].At) != "{1 1 []}" {
		t.Fatalf("positions %v, %v", st.Queues[rxQ].At, st.Queues[txQ].At)
	}
	again, err := vm.Decode(vm.Version, st.Encode())
	if err != nil {
		t.Fatal(err)
	}

	dst := newBoardWith(t, ev)
	copy(dst.ram, src.ram) // the migration moved guest RAM
	if err := dst.tr.Start(*again); err != nil {
		t.Fatal(err)
	}
	if !dst.told(rxQ) || dst.told(txQ) {
		t.Errorf("told not to kick on the destination: rx %v, tx %v", dst.told(rxQ), dst.told(txQ))
	}
	if dst.pends != 1 || dst.r(vm.RegInterruptStatus)&vm.InterruptUsed == 0 {
		t.Errorf("the destination shows no used buffer: %d pends", dst.pends)
	}
	dst.w(vm.RegInterruptACK, vm.InterruptUsed)
	if dst.r(vm.RegInterruptStatus) != 0 {
		t.Errorf("still interrupting after the acknowledgement")
	}
	dst.dev.Receive(frameN(3))
	dst.send(9, frameN(4))
	if got := dst.dev.Transmitted(); len(got) != 1 || !bytes.Equal(got[0], frameN(4)) {
		t.Fatalf("the destination sent %d frames", len(got))
	}
	dst.interrupt()
	if got := dst.usedEntries(rxQ, 0); fmt.Sprint(got) != "[0/72 1/72]" {
		t.Fatalf("receive used on the destination %v", got)
	}
	if got := dst.usedEntries(txQ, 0); fmt.Sprint(got) != "[8/0 9/0]" {
		t.Fatalf("transmit used on the destination %v", got)
	}
	if !bytes.Equal(dst.m.At(dst.buf(1)+12, 60), frameN(3)) {
		t.Errorf("the frame is not in the buffer the source left in flight")
	}
	for _, b := range []*board{src, dst} {
		if v := b.dev.Violations(); len(v) > 0 {
			t.Errorf("a device saw %q", v)
		}
	}

	// The migration failed instead: the source's device is set up again.
	if err := src.tr.Restart(); err != nil {
		t.Fatal(err)
	}
	src.dev.Receive(frameN(5))
	src.interrupt()
	if got := src.usedEntries(rxQ, 0); fmt.Sprint(got) != "[0/72 1/72]" {
		t.Fatalf("receive used after the restart %v", got)
	}
}

// A request the device does not carry out keeps the device running, and
// the migration is told.
func TestTransportStopWaits(t *testing.T) {
	b := newBoard(t)
	b.driver()
	b.send(0, frameN(1))
	if _, err := b.tr.Stop(10*time.Millisecond, false); err == nil || !strings.Contains(err.Error(), "still holds requests after 10ms: queue 1: the device holds a request (the chain at 0) for") {
		t.Fatalf("Stop = %v", err)
	}
	if b.dev.Status()&vm.StatusDriverOK == 0 {
		t.Fatalf("the device was reset")
	}
	if got := b.dev.Transmitted(); len(got) != 1 {
		t.Fatalf("transmitted %d", len(got))
	}
}

// The destination's announcement goes out on a descriptor the guest's
// chains do not hold, and never reaches the guest's used ring.
func TestTransportAnnounces(t *testing.T) { eachMode(t, testTransportAnnounces) }

func testTransportAnnounces(t *testing.T, ev bool) {
	b := newBoardWith(t, ev)
	b.driver()
	b.send(0, frameN(1))
	if err := b.tr.Announce(txQ, frameN(9)); err != nil {
		t.Fatal(err)
	}
	got := b.dev.Transmitted()
	if len(got) != 2 || !bytes.Equal(got[1], frameN(9)) {
		t.Fatalf("transmitted %d frames", len(got))
	}
	b.interrupt()
	if u := b.usedEntries(txQ, 0); fmt.Sprint(u) != "[0/0]" {
		t.Fatalf("the guest's used ring %v", u)
	}
	// Ferry's frame is on the last descriptor; the guest, which thinks it
	// free, sends on it meanwhile: its frame waits for Ferry's, and goes
	// out (once) when the relay sees Ferry's back.
	if err := b.tr.Announce(txQ, frameN(9)); err != nil {
		t.Fatalf("a second announcement: %v", err)
	}
	b.send(qNum-1, frameN(2))
	if got := b.dev.Transmitted(); len(got) != 1 || !bytes.Equal(got[0], frameN(9)) {
		t.Fatalf("transmitted %d frames before the relay", len(got))
	}
	if high, _ := b.dev.Interrupting(); !high {
		t.Fatal("Ferry's frame was used without an interrupt: the guest's waits for ever")
	}
	b.interrupt()
	if got := b.dev.Transmitted(); len(got) != 1 || !bytes.Equal(got[0], frameN(2)) {
		t.Fatalf("the guest's frame on Ferry's descriptor: transmitted %d", len(got))
	}
	b.interrupt()
	if u := b.usedEntries(txQ, 0); fmt.Sprint(u) != fmt.Sprintf("[0/0 %d/0]", qNum-1) {
		t.Fatalf("the guest's used ring %v", u)
	}
	if got := b.tr.Config(0, 6); !bytes.Equal(got, mac[:]) {
		t.Errorf("Config = % x", got)
	}
}

// The driver's write-only set-up is recorded; a reset forgets it; a queue
// beyond what Ferry relays is not set up at all, and reported once.
func TestTransportRecords(t *testing.T) {
	b := newBoard(t)
	b.driver()
	if len(b.log) != 1 || !strings.HasPrefix(b.log[0], "driver ready: features 0x") || !strings.HasSuffix(b.log[0], ", 2 queues") {
		t.Errorf("logged %q", b.log)
	}
	st := b.tr.State()
	want := vm.Queue{Num: qNum, Desc: b.desc(1), Driver: b.avail(1), Device: b.used(1), Ready: true}
	if st.Status != vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK|vm.StatusDriverOK || len(st.Queues) != 2 || fmt.Sprint(st.Queues[1]) != fmt.Sprint(want) {
		t.Fatalf("State %+v", st)
	}
	b.w(vm.RegStatus, 0)
	if got := b.tr.State(); got.Status != 0 || got.DriverFeatures != 0 || len(got.Queues) != 0 || b.dev.Status() != 0 {
		t.Fatalf("after a reset: %+v", got)
	}
	b.driver()
	b.w(vm.RegQueueSel, vm.MaxQueues)
	b.w(vm.RegQueueNum, 8)
	b.w(vm.RegQueueReady, 1)
	b.w(vm.RegQueueReady, 1)
	if n := len(b.tr.State().Queues); n != 2 || len(b.log) != 3 || !strings.Contains(b.log[2], "beyond the 16 Ferry relays") {
		t.Fatalf("queue %d: %d queues, logged %q", vm.MaxQueues, n, b.log)
	}
}

// A hostile driver: any sequence of register accesses of any width and
// alignment (an 8-byte one split in two by the device's bus, as QEMU's),
// of writes to its own RAM, of a well-behaved driver's set-up and kicks,
// with the device receiving and sending meanwhile, and a migration's
// stop (with or without the NIC reset), restart, restore onto another
// board, and announcement at any point. The model never panics; the
// device never runs on rings outside Ferry's shadow memory, never writes
// Ferry's memory (a canary page) nor sends it out; the shadow memory
// stays within ShadowBudget; and what the model reports written is
// bounded by what the device wrote, not by what the guest's descriptors
// say.
func FuzzTransportHostile(f *testing.F) {
	f.Add([]byte{0x70, 0, 0, 0, 3, 0x30, 1, 0, 0, 0, 0x38, 8, 0, 0, 0, 0x80, 0, 0, 0, 0, 0x44, 1, 0, 0, 0, 0x50, 1, 0, 0, 0})
	f.Add([]byte{10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		6, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(hostile)
}

var widths = []int{1, 2, 4, 8}

// hostile is FuzzTransportHostile's run of ops.
func hostile(t *testing.T, ops []byte) {
	b := newBoard(t)
	b.tr.Log = nil
	canary := b.m.At(b.ferry, 4096)
	for i := range canary {
		canary[i] = 0xc5
	}
	maxWrote := uint64(4 + 8*256) // a used ring of QueueNumMax entries, written whole at a restore
	check := func(b *board) {
		b.deviceOnShadow(t)
		if n := b.tr.ShadowMemory(); n > vm.ShadowBudget {
			t.Fatalf("%d bytes of shadow memory, past the budget of %d", n, vm.ShadowBudget)
		}
		for _, fr := range b.dev.Transmitted() {
			if bytes.Contains(fr, canary[:16]) {
				t.Fatalf("the device sent Ferry's memory")
			}
		}
		for _, w := range b.wrote {
			var a, n uint64
			fmt.Sscanf(w, "%v+%d", &a, &n)
			if n > maxWrote {
				t.Fatalf("reported written: %s, more than the device writes", w)
			}
		}
		b.wrote = b.wrote[:0]
	}
	// Addresses the driver may use: guest RAM, Ferry's page, nowhere.
	addrs := []uint64{b.base, b.base + 0x1000, b.base + 0x2000, b.used(0), b.buf(1), b.ferry, b.ferry + 0x800, 0, b.base + ramSize - 8, 1 << 40}
	for len(ops) >= 12 {
		op, arg, v := ops[0], binary.LittleEndian.Uint16(ops[1:3]), binary.LittleEndian.Uint64(ops[3:11])
		w := widths[ops[11]%4]
		ops = ops[12:]
		switch op % 14 {
		case 0, 1, 2: // a register write, often of a queue address
			off := uint64(arg) % vm.Size
			if op&0x80 != 0 {
				off &^= uint64(w - 1)
			}
			if op&0x40 != 0 {
				v = addrs[int(v%uint64(len(addrs)))]
			}
			b.tr.Write(off, w, v)
		case 3: // a register read
			b.tr.Read(uint64(arg)%vm.Size, w)
		case 4: // the guest writes its own RAM: a descriptor or ring entry
			off := uint64(arg)<<4%(ramSize-16) | uint64(v>>60)
			d := b.m.At(b.base+off, 16)
			binary.LittleEndian.PutUint64(d, addrs[int(v%uint64(len(addrs)))])
			binary.LittleEndian.PutUint32(d[8:], uint32(v>>8)&0xfff)
			binary.LittleEndian.PutUint16(d[12:], uint16(v>>24)&7)
			binary.LittleEndian.PutUint16(d[14:], uint16(v>>32)%qNum)
		case 5: // the guest's ring index
			b.put16(b.avail(int(arg)%2)+2, uint16(v))
		case 6:
			b.dev.Receive(frameN(int(v % 0x80)))
		case 7:
			b.interrupt()
		case 8: // a pause, with or without the NIC reset; the guest runs on here
			b.tr.Stop(0, v&1 != 0)
			b.tr.Restart()
		case 9: // a migration: the guest runs on on another board
			st, err := b.tr.Stop(0, v&1 != 0)
			if err != nil {
				break
			}
			check(b)
			// The destination, on the same bus (guest RAM moved in
			// place; the canary page is the same): a new device.
			d := &board{t: t, m: b.m, ram: b.ram, base: b.base, ferry: b.ferry, eventIdx: b.eventIdx}
			d.dev = fakedev.New(b.m, fakedev.Options{MAC: mac})
			d.tr = vm.New(fakedev.MMIO{D: d.dev}, vm.Shadowing{
				Guest: mem{b.m},
				InRAM: func(a, n uint64) bool { return a >= b.base && a+n >= a && a+n <= b.base+ramSize },
				Alloc: func(n uint64) (virtq.Mem, uint64, error) {
					_, pa, err := b.m.Alloc(int(n), 4096)
					d.shadow = append(d.shadow, [2]uint64{pa, n})
					return mem{b.m}, pa, err
				},
				Wrote: func(a, n uint64) { d.wrote = append(d.wrote, fmt.Sprintf("%#x+%d", a, n)) },
			})
			if d.tr.Start(st) == nil {
				b = d
			}
		case 10: // a well-behaved driver's set-up
			b.driver()
		case 11: // a well-behaved driver's receive buffer or frame
			h := uint16(v % qNum)
			if v&0x100 != 0 {
				b.send(h, frameN(int(v%0x80)))
			} else {
				b.post(rxQ, h, b.buf(h), 0x800, true)
			}
		case 12:
			b.tr.Announce(txQ, frameN(9))
		case 13:
			b.tr.Held(0)
			b.tr.Faults()
		}
		check(b)
	}
	for _, c := range canary {
		if c != 0xc5 {
			t.Fatalf("the device wrote Ferry's memory")
		}
	}
}

// A driver that changes a ready queue, makes it ready twice, or sets it
// up again without a reset: the device keeps what it was given, and the
// shadow memory it may still use is never given up (nor grown) before the
// device is reset.
func TestTransportReadyAgain(t *testing.T) {
	b := newBoard(t)
	b.driver()
	n := b.allocs
	b.w(vm.RegQueueSel, txQ)
	b.w(vm.RegQueueNum, 8)
	b.w(vm.RegQueueDescLow, uint32(b.ferry))
	b.w(vm.RegQueueReady, 1)
	if q := b.tr.State().Queues[txQ]; q.Num != qNum || q.Desc != b.desc(txQ) || b.allocs != n {
		t.Fatalf("a ready queue changed: %+v, %d more allocations", q, b.allocs-n)
	}
	b.send(0, frameN(1))
	if got := b.dev.Transmitted(); len(got) != 1 {
		t.Fatalf("transmitted %d", len(got))
	}
	// Not ready, then ready again: the same memory, for the same size.
	b.w(vm.RegQueueReady, 0)
	b.queue(txQ, b.desc(txQ), b.avail(txQ), b.used(txQ))
	if b.allocs != n {
		t.Errorf("set up again: %d more allocations", b.allocs-n)
	}
	// Larger, without a reset: refused.
	b.w(vm.RegQueueReady, 0)
	b.w(vm.RegQueueSel, txQ)
	b.w(vm.RegQueueNum, 256)
	b.w(vm.RegQueueReady, 1)
	if last := b.log[len(b.log)-1]; !strings.Contains(last, "larger") || b.allocs != n {
		t.Errorf("logged %q, %d more allocations", last, b.allocs-n)
	}
	// After a reset the memory serves again.
	b.driver()
	if b.allocs != n {
		t.Errorf("after a reset: %d more allocations", b.allocs-n)
	}
}

// A driver that keeps failing is logged a bounded number of times, and
// the last faults are kept.
func TestTransportFaultsBounded(t *testing.T) {
	b := newBoard(t)
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	for range 40 {
		b.queue(txQ, b.ferry, b.avail(txQ), b.used(txQ))
	}
	if len(b.log) != 17 || !strings.Contains(b.log[16], "no more logged") || len(b.tr.Faults()) != 16 {
		t.Fatalf("%d lines logged (last %q), %d faults kept", len(b.log), b.log[len(b.log)-1], len(b.tr.Faults()))
	}
}

// With EVENT_IDX the device interrupts where the guest's used_event says,
// as a device on the guest's own rings would (Linux's transmit queue asks
// for three quarters of what is in flight), not at every used entry. An
// event beyond what the device holds becomes the next entry: the guest,
// told not to kick, would otherwise wait for ever.
func TestTransportEventIdx(t *testing.T) {
	b := newBoardWith(t, true)
	b.driver()
	for h := uint16(0); h < 4; h++ {
		b.post(rxQ, h, b.buf(h), 0x800, true)
	}
	b.dev.Receive(frameN(0))
	b.interrupt()
	_, before := b.dev.Interrupting()

	// Interrupt me when you write used entry 3: two frames on.
	b.usedEvent(rxQ, 3)
	b.post(rxQ, 0, b.buf(0), 0x800, true)
	b.dev.Receive(frameN(1))
	b.dev.Receive(frameN(2))
	if high, n := b.dev.Interrupting(); high || n != before {
		t.Fatalf("an interrupt at used entry 1 or 2; the guest asked for one at 3")
	}
	b.post(rxQ, 4, b.buf(4), 0x800, true) // a kick relays the entries used meanwhile
	if got := b.usedEntries(rxQ, 1); fmt.Sprint(got) != "[1/72 2/72]" {
		t.Errorf("used entries relayed at the kick: %v", got)
	}
	b.dev.Receive(frameN(3))
	if high, n := b.dev.Interrupting(); !high || n != before+1 {
		t.Fatalf("no interrupt at used entry 3 (line %v, raised %d times, %d before)", high, n, before)
	}
	b.interrupt()
	if got := b.usedEntries(rxQ, 1); fmt.Sprint(got) != "[1/72 2/72 3/72]" {
		t.Fatalf("used %v", got)
	}

	// An event far beyond the chains in flight: the next used entry
	// interrupts.
	b.usedEvent(rxQ, 100)
	b.post(rxQ, 1, b.buf(1), 0x800, true)
	b.dev.Receive(frameN(4))
	if high, _ := b.dev.Interrupting(); !high {
		t.Fatal("no interrupt, with the guest's event beyond what the device holds")
	}
	b.interrupt()
	if v := b.dev.Violations(); len(v) > 0 {
		t.Errorf("the device saw %q", v)
	}
}

// onShadow reports whether [a, a+n) lies in shadow memory the model was
// given.
func (b *board) onShadow(a, n uint64) bool {
	for _, r := range b.shadow {
		if a >= r[0] && a+n >= a && a+n <= r[0]+r[1] {
			return true
		}
	}
	return false
}

// deviceOnShadow fails unless every ready queue of the device runs on
// shadow rings.
func (b *board) deviceOnShadow(t *testing.T) {
	t.Helper()
	for q := range 2 {
		num, desc, driver, device, ready := b.dev.Queue(q)
		if !ready {
			continue
		}
		n := uint64(num)
		if !b.onShadow(desc, 16*n) || !b.onShadow(driver, 6+2*n) || !b.onShadow(device, 6+8*n) {
			t.Fatalf("the device's queue %d runs on rings at %#x, %#x, %#x: not Ferry's shadow", q, desc, driver, device)
		}
	}
}

// A driver that writes its registers 8 bytes at a time (str x), which
// QEMU splits into two 32-bit register writes: its ring addresses at
// 0x80/0x90/0xa0, QueueReady through a store of 1<<32 at 0x40, its queue
// selection at 0x30, its kick at 0x50. The model sees each half as the
// device would: the device gets shadow rings, the guest's chains are
// checked, Ferry's memory is neither sent nor written. 1- and 2-byte
// accesses to a register do nothing (QEMU ignores them), and the
// configuration space reads back at every width.
func TestTransportWideAccess(t *testing.T) {
	b := newBoard(t)
	canary := b.m.At(b.ferry, 4096)
	for i := range canary {
		canary[i] = 0xc5
	}
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	b.w(vm.RegDriverFeaturesSel, 1)
	b.w(vm.RegDriverFeatures, 1)
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK)
	for _, q := range []int{rxQ, txQ} {
		b.tr.Write(vm.RegQueueSel, 8, uint64(q)) // and 0x34, QueueNumMax: read-only
		b.w(vm.RegQueueNum, qNum)
		b.tr.Write(vm.RegQueueDescLow, 8, b.desc(q))
		b.tr.Write(vm.RegQueueDriverLow, 8, b.avail(q))
		b.tr.Write(vm.RegQueueDeviceLow, 8, b.used(q))
		b.tr.Write(0x40, 8, 1<<32) // QueueReady = 1
		if got := b.tr.Read(vm.RegQueueDescLow, 8); got != b.desc(q) {
			t.Errorf("queue %d: an 8-byte read of QueueDesc gives %#x, want the guest's %#x", q, got, b.desc(q))
		}
	}
	// Narrow accesses to registers: ignored, as QEMU does.
	b.tr.Write(vm.RegQueueSel, 1, 0)
	b.tr.Write(vm.RegQueueReady, 2, 0)
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK|vm.StatusDriverOK)
	b.deviceOnShadow(t)
	if st := b.tr.State(); len(st.Queues) != 2 || !st.Queues[rxQ].Ready || !st.Queues[txQ].Ready || st.Queues[txQ].Desc != b.desc(txQ) {
		t.Fatalf("the model's record: %+v", st)
	}

	// A receive buffer and a transmit buffer in Ferry's memory, kicked
	// with 8-byte stores.
	post := func(q int, head uint16, addr uint64, n uint32, write bool) {
		d := b.m.At(b.desc(q)+16*uint64(head), 16)
		binary.LittleEndian.PutUint64(d, addr)
		binary.LittleEndian.PutUint32(d[8:], n)
		flags := uint16(0)
		if write {
			flags = 2
		}
		binary.LittleEndian.PutUint16(d[12:], flags)
		idx := b.u16(b.avail(q) + 2)
		b.put16(b.avail(q)+4+2*uint64(idx%qNum), head)
		b.put16(b.avail(q)+2, idx+1)
		b.tr.Write(vm.RegQueueNotify, 8, uint64(q))
	}
	post(rxQ, 0, b.ferry, 0x800, true)
	post(txQ, 0, b.ferry+0x800, 0x800, false)
	b.dev.Receive(frameN(1))
	for _, fr := range b.dev.Transmitted() {
		if bytes.Contains(fr, canary[:16]) {
			t.Fatalf("the device sent Ferry's memory")
		}
	}
	for _, c := range b.m.At(b.ferry, 4096) {
		if c != 0xc5 {
			t.Fatalf("the device wrote Ferry's memory")
		}
	}
	if f := b.tr.Faults(); len(f) != 3 || !strings.Contains(f[0], "a 1-byte access (write true) to register 0x30: the registers are 32 bits wide; ignored (reported once)") ||
		!strings.Contains(f[1], "queue 0 stopped: virtq: a buffer outside guest RAM") || !strings.Contains(f[2], "queue 1 stopped") {
		t.Errorf("Faults %q", f)
	}

	// The configuration space at every width: the MAC.
	if got := b.tr.Read(vm.RegConfig, 1); got != uint64(mac[0]) {
		t.Errorf("1-byte config read %#x", got)
	}
	if got := b.tr.Read(vm.RegConfig+2, 2); got != uint64(binary.LittleEndian.Uint16(mac[2:])) {
		t.Errorf("2-byte config read %#x", got)
	}
	if got := b.tr.Read(vm.RegConfig, 4); got != uint64(binary.LittleEndian.Uint32(mac[:])) {
		t.Errorf("4-byte config read %#x", got)
	}
	if got := b.tr.Read(vm.RegConfig, 8); got != uint64(binary.LittleEndian.Uint32(mac[:]))|uint64(binary.LittleEndian.Uint16(mac[4:]))<<32 {
		t.Errorf("8-byte config read %#x", got)
	}
	// Misaligned: nothing reaches the device.
	if got := b.tr.Read(vm.RegConfig+1, 4); got != 0 {
		t.Errorf("a misaligned config read gives %#x", got)
	}
}

// sized sets queue q up with size n (its rings in guest RAM) and makes it
// ready.
func (b *board) sized(q int, n uint32) {
	b.w(vm.RegQueueSel, uint32(q))
	b.w(vm.RegQueueNum, n)
	for _, a := range []struct {
		off  uint64
		addr uint64
	}{{vm.RegQueueDescLow, b.base}, {vm.RegQueueDriverLow, b.base + 16*uint64(n)}, {vm.RegQueueDeviceLow, b.base + 0x80000}} {
		b.w(a.off, uint32(a.addr))
		b.w(a.off+4, uint32(a.addr>>32))
	}
	b.w(vm.RegQueueReady, 1)
}

// The guest does not decide how much of Ferry's memory the shadow takes:
// a queue is refused, and reported, if it is larger than the device
// offers (QueueNumMax), if the device has no such queue (QueueNumMax 0),
// or if its shadow would take the device's shadow memory past
// ShadowBudget; nothing is allocated for it.
func TestTransportQueueBounds(t *testing.T) {
	b := newBoard(t) // the device's queues hold 256
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	b.w(vm.RegDriverFeaturesSel, 1)
	b.w(vm.RegDriverFeatures, 1)
	b.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK)
	b.sized(txQ, 512)
	for q := 2; q < vm.MaxQueues; q++ {
		b.sized(q, 32768)
	}
	if b.allocs != 0 || b.r(vm.RegQueueReady) != 0 {
		t.Errorf("%d allocations, the last queue ready %d", b.allocs, b.r(vm.RegQueueReady))
	}
	f := b.tr.Faults()
	if len(f) != vm.MaxQueues-1 || !strings.Contains(f[0], "queue 1 refused: size 512: the device's queue holds at most 256 (QueueNumMax)") ||
		!strings.Contains(f[1], "queue 2 refused: the device has no queue 2 (its QueueNumMax is 0)") {
		t.Fatalf("Faults %q", f)
	}

	// A device that offers the largest split queue: one of 32768 entries
	// (34 MB of shadow) is past the budget; two of 4096 (4.3 MB each)
	// are too, together.
	c := newBoardOpts(t, false, fakedev.Options{MAC: mac, QueueNumMax: 32768})
	c.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	c.w(vm.RegDriverFeaturesSel, 1)
	c.w(vm.RegDriverFeatures, 1)
	c.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK)
	c.sized(rxQ, 32768)
	if c.allocs != 0 || c.r(vm.RegQueueReady) != 0 {
		t.Fatalf("a queue of 32768: %d allocations, ready %d", c.allocs, c.r(vm.RegQueueReady))
	}
	c.sized(rxQ, 4096)
	c.sized(txQ, 4096)
	var taken uint64
	for _, r := range c.shadow {
		taken += r[1]
	}
	if c.allocs != 1 || taken > vm.ShadowBudget {
		t.Errorf("%d allocations, %d bytes: past the budget of %d", c.allocs, taken, vm.ShadowBudget)
	}
	f = c.tr.Faults()
	if len(f) != 2 || !strings.Contains(f[0], "queue 0 refused: shadow ring: 34406416 bytes") || !strings.Contains(f[1], "queue 1 refused: shadow ring: ") || !strings.Contains(f[1], "past the device's budget of 8388608") {
		t.Fatalf("Faults %q", f)
	}
	// After a reset the same set-up takes the memory it had, and a
	// queue of another size gets the memory of the first back.
	c.w(vm.RegStatus, 0)
	c.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver)
	c.w(vm.RegDriverFeaturesSel, 1)
	c.w(vm.RegDriverFeatures, 1)
	c.w(vm.RegStatus, vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK)
	c.sized(txQ, 2048)
	c.sized(rxQ, 2048)
	if got := c.tr.State(); len(c.tr.Faults()) != 2 || !got.Queues[rxQ].Ready || !got.Queues[txQ].Ready {
		t.Fatalf("after a reset: %+v, faults %q", got, c.tr.Faults())
	}
}

// A guest that puts a chain with a device-readable buffer on its receive
// queue, which the device completes only when a frame comes (here never):
// every pause waits for it and fails, and says so (the board's status
// names it: Held, and a fault). With the operator's NIC reset the pause
// resets the device all the same and gives the chain back to the guest
// unused; the guest moves, its receive buffers with it.
func TestTransportStopGivesBack(t *testing.T) {
	src := newBoard(t)
	src.driver()
	d := src.m.At(src.desc(rxQ), 32)
	binary.LittleEndian.PutUint64(d, src.buf(0))
	binary.LittleEndian.PutUint32(d[8:], 12)
	binary.LittleEndian.PutUint16(d[12:], 1) // NEXT, device-readable
	binary.LittleEndian.PutUint16(d[14:], 1)
	binary.LittleEndian.PutUint64(d[16:], src.buf(1))
	binary.LittleEndian.PutUint32(d[24:], 0x800)
	binary.LittleEndian.PutUint16(d[28:], 2) // WRITE
	src.put16(src.avail(rxQ)+4, 0)
	src.put16(src.avail(rxQ)+2, 1)
	src.w(vm.RegQueueNotify, rxQ)
	src.post(rxQ, 2, src.buf(2), 0x800, true) // a receive buffer
	time.Sleep(5 * time.Millisecond)
	if h := src.tr.Held(time.Millisecond); len(h) != 1 || !strings.HasPrefix(h[0], "queue 0: the device holds a request (the chain at 0) for ") || !strings.HasSuffix(h[0], ", 2 chain(s) in all") {
		t.Fatalf("Held = %q", h)
	}
	for range 2 {
		if _, err := src.tr.Stop(10*time.Millisecond, false); err == nil || !strings.Contains(err.Error(), "queue 0: the device holds a request (the chain at 0)") {
			t.Fatalf("Stop = %v", err)
		}
	}
	if f := src.tr.Faults(); len(f) != 2 || !strings.HasPrefix(f[0], "a pause failed: the device still holds requests after 10ms: queue 0") {
		t.Fatalf("Faults %q", f)
	}
	if src.dev.Status()&vm.StatusDriverOK == 0 {
		t.Fatal("a failed pause reset the device")
	}
	st, err := src.tr.Stop(10*time.Millisecond, true)
	if err != nil {
		t.Fatalf("Stop with the NIC reset: %v", err)
	}
	if src.dev.Status() != 0 {
		t.Fatalf("the device is not reset: %#x", src.dev.Status())
	}
	if got := src.usedEntries(rxQ, 0); fmt.Sprint(got) != "[0/0]" {
		t.Fatalf("the guest's used ring %v", got)
	}
	if fmt.Sprint(st.Queues[rxQ].At) != "{2 1 [2]}" {
		t.Fatalf("position %v", st.Queues[rxQ].At)
	}
	dst := newBoard(t)
	copy(dst.ram, src.ram)
	if err := dst.tr.Start(st); err != nil {
		t.Fatal(err)
	}
	dst.dev.Receive(frameN(1))
	dst.interrupt()
	if got := dst.usedEntries(rxQ, 0); fmt.Sprint(got) != "[0/0 2/72]" {
		t.Fatalf("receive used on the destination %v", got)
	}
}

// A guest that changes the chains its device holds while it is stopped
// for a migration (two now share a descriptor, one points into Ferry's
// memory): the destination's device is set up all the same; those chains
// are given back to the guest unused, and reported.
func TestTransportRestoreChangedChains(t *testing.T) {
	src := newBoard(t)
	src.driver()
	for h := uint16(0); h < 4; h++ {
		src.post(rxQ, h, src.buf(h), 0x800, true)
	}
	st, err := src.tr.Stop(time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	dst := newBoard(t)
	copy(dst.ram, src.ram)
	d := dst.m.At(dst.desc(rxQ), 64)
	binary.LittleEndian.PutUint16(d[12:], 3) // 0 -> 1: descriptor 1 is in flight on its own
	binary.LittleEndian.PutUint16(d[14:], 1)
	binary.LittleEndian.PutUint64(d[32:], dst.ferry) // 2 into Ferry's memory
	if err := dst.tr.Start(st); err != nil {
		t.Fatalf("Start: %v", err)
	}
	f := dst.tr.Faults()
	if len(f) != 2 || !strings.Contains(f[0], "queue 0: the chain at 1: virtq: a malformed descriptor chain") || !strings.Contains(f[1], "the chain at 2: virtq: a buffer outside guest RAM") {
		t.Fatalf("Faults %q", f)
	}
	if got := dst.usedEntries(rxQ, 0); fmt.Sprint(got) != "[1/0 2/0]" {
		t.Fatalf("the guest's used ring %v", got)
	}
	dst.dev.Receive(frameN(1))
	dst.dev.Receive(frameN(2))
	dst.interrupt()
	if got := dst.usedEntries(rxQ, 0); fmt.Sprint(got) != "[1/0 2/0 0/72 3/72]" {
		t.Fatalf("receive used on the destination %v", got)
	}
}

// After a migration the device's selectors are where the model's are
// (0, as a reset leaves them), not where the set-up left them: the guest's
// next DriverFeatures write (which the model takes as the low word, where
// no bit is hidden) must not set a hidden feature in the high word
// (VIRTIO_F_RING_PACKED, which would make the device read the shadow's
// descriptors as a packed ring), and its next queue register writes must
// reach the queue the model records them for.
func TestTransportStartSelectors(t *testing.T) {
	src := newBoard(t)
	src.driver()
	st, err := src.tr.Stop(time.Second, false)
	if err != nil {
		t.Fatal(err)
	}
	dst := newBoard(t)
	copy(dst.ram, src.ram)
	if err := dst.tr.Start(st); err != nil {
		t.Fatal(err)
	}
	dst.w(vm.RegDriverFeatures, uint32(vm.FeatureRingPacked>>32))
	if f := dst.dev.DriverFeatures(); f&vm.Hidden != 0 {
		t.Errorf("the device took features %#x, which the model hides", f&vm.Hidden)
	}
	dst.w(vm.RegQueueReady, 0) // queue 0, for the model and the device
	if _, _, _, _, ready := dst.dev.Queue(txQ); !ready || dst.tr.State().Queues[rxQ].Ready {
		t.Errorf("the transmit queue's readiness at the device %v; the model's receive queue ready %v", ready, dst.tr.State().Queues[rxQ].Ready)
	}
}
