// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos_test

import (
	"bytes"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/mmio/eqos"
)

// Rings of 8 carry 40 frames each way, in batches that wrap them.
func TestRingWrap(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	sent, received := 0, 0
	for sent < 40 {
		for range 5 {
			d.send(frame(sent, 64+sent))
			sent++
		}
		d.interrupt()
		if n := d.clean(); n != 5 {
			t.Fatalf("after %d frames: %d cleaned, want 5", sent, n)
		}
	}
	for i, f := range e.dev.Sent[0] {
		if !bytes.Equal(f, frame(i, 64+i)) {
			t.Fatalf("frame %d sent as %x", i, f)
		}
	}
	for received < 40 {
		for k := range 3 {
			if !e.dev.Receive(frame(100+received+k, 90)) {
				t.Fatalf("frame %d not received", received+k)
			}
		}
		d.interrupt()
		got := d.receive()
		for k, f := range got {
			if !bytes.Equal(f, frame(100+received+k, 90)) {
				t.Fatalf("frame %d received as %x", received+k, f)
			}
		}
		if len(got) != 3 {
			t.Fatalf("received %d, want 3", len(got))
		}
		received += 3
	}
	if len(e.dev.Sent[0]) != 40 || e.dev.Missed != 0 {
		t.Errorf("%d sent, %d missed", len(e.dev.Sent[0]), e.dev.Missed)
	}
	e.checkBus()
	e.faults(0)
}

// What the device wrote into a receive buffer marks exactly the pages of
// the bytes it wrote, with the descriptor's: not the buffer's RBSZ; a
// frame over two descriptors marks each one's share.
func TestReceiveMarksWritten(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 4, ramBase, false)
	d.bufSz, d.rxOff = 8192, pageSize-50 // a buffer of 8 KiB from 50 bytes before a page's end
	d.open()
	clear(e.dirty)
	e.wrote = nil
	if !e.dev.Receive(frame(1, 100)) {
		t.Fatal("not received")
	}
	d.interrupt()
	buf := d.rxBuf(0)
	want := map[uint64]bool{buf / pageSize: true, buf/pageSize + 1: true, d.rxBase / pageSize: true}
	if !maps.Equal(e.dirty, want) {
		t.Errorf("pages marked %v, want %v (a 100-byte frame at %#x, its descriptor at %#x)", slices.Sorted(maps.Keys(e.dirty)), slices.Sorted(maps.Keys(want)), buf, d.rxBase)
	}
	if !slices.Contains(e.wrote, [2]uint64{buf, 100}) {
		t.Errorf("written %x, want [%#x 100] among them", e.wrote, buf)
	}

	// 1536-byte buffers: a 3000-byte frame takes two descriptors.
	e = newEnv(t)
	d = e.driver(e.model, 4, ramBase, false)
	d.open()
	e.wrote = nil
	if !e.dev.Receive(frame(2, 3000)) {
		t.Fatal("not received")
	}
	d.interrupt()
	for _, w := range [][2]uint64{{d.rxBuf(0), 1536}, {d.rxBuf(1), 3000 - 1536}, {d.rxBase, 16}, {d.rxBase + 16, 16}} {
		if !slices.Contains(e.wrote, w) {
			t.Errorf("written %x, want %x among them", e.wrote, w)
		}
	}
	if len(e.wrote) != 4 {
		t.Errorf("written %x, want 4 ranges", e.wrote)
	}
	// Transmit descriptors given back mark the descriptor alone.
	e.wrote = nil
	d.send(frame(3, 200))
	d.interrupt()
	if len(e.wrote) != 1 || e.wrote[0] != [2]uint64{d.txBase, 16} {
		t.Errorf("a frame sent marked %x, want its descriptor's 16 bytes", e.wrote)
	}
	e.checkBus()
}

// The guest stops its transmit ring and starts it again without setting
// it up (the device goes on where it was), and after a reset sets it up
// from scratch; a reset behind the relay's back (the device's registers
// back at reset, the relay not told) is found at the next start.
func TestStopRestart(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	d.send(frame(0, 60))
	d.send(frame(1, 60))
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))&^eqos.TxControlST)
	d.send(frame(2, 60)) // recorded, the ring stopped
	if len(e.dev.Sent[0]) != 2 {
		t.Fatalf("%d sent while stopped", len(e.dev.Sent[0]))
	}
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|eqos.TxControlST)
	if len(e.dev.Sent[0]) != 3 || e.dev.Cur(0, 0) != 3 {
		t.Fatalf("after the restart: %d sent, the device at %d", len(e.dev.Sent[0]), e.dev.Cur(0, 0))
	}
	// From scratch.
	d.txCur, d.txDone, d.rxCur = 0, 0, 0
	d.open()
	d.send(frame(3, 61))
	if len(e.dev.Sent[0]) != 4 || !bytes.Equal(e.dev.Sent[0][3], frame(3, 61)) {
		t.Fatalf("after a reset: %d sent", len(e.dev.Sent[0]))
	}
	// Behind the relay's back: the device's list addresses are 0 again,
	// where the boot ROM is. The next start gives it the shadows again,
	// afresh: the receive ring (every descriptor the DMA's) runs; the
	// transmit ring starts at the guest's descriptor 0, which the device
	// gave back, and waits there as the device itself would.
	e.dev.Write(eqos.RegMode-eqos.Page, 4, eqos.ModeSWR)
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|eqos.TxControlST)
	d.w(ch(eqos.ChRxControl), d.r(ch(eqos.ChRxControl))|eqos.RxControlSR|1536<<1)
	if got := e.dev.Reg(eqos.ChanBase - eqos.Page + eqos.ChTxBase); got != shadowBase {
		t.Errorf("after a hidden reset the device's transmit list is at %#x, want the shadow's %#x", got, uint32(shadowBase))
	}
	d.send(frame(4, 62))
	if n := len(e.dev.Sent[0]); n != 4 {
		t.Errorf("after a hidden reset: %d sent", n)
	}
	if !e.dev.Receive(frame(5, 80)) {
		t.Error("after a hidden reset: nothing received")
	}
	e.checkBus()
	e.faults(0)
}

// A tail pointer past the ring's end is where Linux's receive ring
// starts (every descriptor the DMA's); one that names no descriptor of
// the ring is refused.
func TestTailPointers(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	tx, rx := e.model.Holding()
	if tx != 0 || rx != 8 {
		t.Errorf("holding %d and %d, want 0 and 8", tx, rx)
	}
	d.sendAt(0, d.txBuf(0), frame(0, 60))
	for _, bad := range []uint32{uint32(d.txBase) + 8, uint32(d.txBase) + 9*16, uint32(secretBase)} {
		d.w(ch(eqos.ChTxTail), bad)
	}
	if len(e.dev.Sent[0]) != 0 {
		t.Errorf("%d sent", len(e.dev.Sent[0]))
	}
	e.faults(3)
	e.checkBus()
}

// A pause stops the device's DMA once the transmit ring has drained,
// marks what it received written, and Restart starts it where it was; a
// device that does not stop fails the pause.
func TestPause(t *testing.T) {
	var clock int64
	var e *env
	drain := true
	e = newEnvWith(t, func(rl *eqos.Relaying) {
		rl.Now = func() int64 { return clock }
		rl.Sleep = func(d time.Duration) {
			clock += int64(d)
			if drain {
				e.dev.RunTX(0)
			}
		}
	})
	e.dev.HoldTX = true
	e.dev.StopLag = 3
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	d.send(frame(0, 60))
	d.send(frame(1, 60))
	if !e.dev.Receive(frame(2, 300)) { // not yet seen by the guest
		t.Fatal("not received")
	}
	clear(e.dirty)
	if err := e.model.Stop(200 * time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if len(e.dev.Sent[0]) != 2 {
		t.Errorf("%d frames sent before the stop, want 2", len(e.dev.Sent[0]))
	}
	reg := func(off uint64) uint32 { return e.dev.Reg(int(off - eqos.Page)) }
	if reg(ch(eqos.ChTxControl))&eqos.TxControlST != 0 || reg(ch(eqos.ChRxControl))&eqos.RxControlSR != 0 || reg(eqos.RegDebugStatus0) != 0 {
		t.Error("the device's DMA still runs after Stop")
	}
	if !e.dirty[d.rxBuf(0)/pageSize] || !e.dirty[d.rxBase/pageSize] {
		t.Errorf("the frame received before the stop: pages %v marked", slices.Sorted(maps.Keys(e.dirty)))
	}
	if tx, _ := e.model.Holding(); tx != 0 {
		t.Errorf("the transmit ring holds %d after Stop", tx)
	}
	if e.dev.Receive(frame(3, 60)) {
		t.Error("a frame received while stopped")
	}
	d.send(frame(4, 60)) // the guest does not run in a pause, but a restart must take what it added
	e.model.Restart()
	e.dev.RunTX(0)
	if len(e.dev.Sent[0]) != 3 || !e.dev.Receive(frame(5, 60)) {
		t.Errorf("after Restart: %d sent", len(e.dev.Sent[0]))
	}
	d.interrupt()
	if got := d.receive(); len(got) != 2 {
		t.Errorf("after Restart: %d received, want 2", len(got))
	}

	// The link is down: the transmit ring never drains. The pause stops
	// the device all the same; a Restart sends what it held.
	drain = false
	d.send(frame(6, 60))
	if err := e.model.Stop(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if tx, _ := e.model.Holding(); tx != 1 {
		t.Errorf("holding %d, want 1", tx)
	}
	e.model.Restart()
	e.dev.RunTX(0)
	if len(e.dev.Sent[0]) != 4 {
		t.Errorf("%d sent after Restart, want 4", len(e.dev.Sent[0]))
	}

	// A device that never says Stopped.
	e.dev.Hang = true
	if err := e.model.Stop(time.Millisecond); err == nil {
		t.Error("Stop of a device that does not stop: no error")
	}
	e.checkBus()
}

// A receive ring the guest refilled up to where the device stopped (its
// tail pointer at the device's current descriptor, every other
// descriptor the device's) receives again after a Restart.
func TestRestartAtTheTail(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	for i := range 3 {
		if !e.dev.Receive(frame(i, 70)) {
			t.Fatal("not received")
		}
	}
	d.interrupt()
	if got := d.receive(); len(got) != 3 {
		t.Fatalf("received %d", len(got))
	}
	if err := e.model.Stop(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	e.model.Restart()
	for i := range 7 {
		if !e.dev.Receive(frame(3+i, 70)) {
			t.Fatalf("frame %d after Restart not received", i)
		}
	}
	d.interrupt()
	if got := d.receive(); len(got) != 7 {
		t.Errorf("received %d after Restart, want 7", len(got))
	}
	e.checkBus()
	e.faults(0)
}

// regFile is a device that only holds its registers, for measuring the
// relay alone: the test plays the DMA, giving descriptors back by hand.
type regFile [eqos.PageSize / 4]uint32

func (r *regFile) Read(off uint64, size int) uint64 { return uint64(r[off/4]) }
func (r *regFile) Write(off uint64, size int, v uint64) {
	if off+eqos.Page != eqos.RegMode { // SWR clears at once
		r[off/4] = uint32(v)
	}
}

// The relay's hot path -- a frame sent, given back and cleaned --
// allocates nothing.
func TestRelayAllocs(t *testing.T) {
	e := newEnv(t)
	var regs regFile
	m, err := eqos.New(&regs, eqos.Relaying{Guest: guestMem{e.bus}, InRAM: inRAM, Shadow: e.bus, ShadowBase: shadowBase, Wrote: func(addr, size uint64) {}})
	if err != nil {
		t.Fatal(err)
	}
	d := e.driver(m, 64, ramBase, false)
	d.open()
	f := frame(1, 100)
	allocs := testing.AllocsPerRun(500, func() {
		i := d.txCur
		d.sendAt(i, d.txBuf(i), f)
		d.txCur = (i + 1) % d.n
		d.kickTX()
		sh := e.mem(shadowBase+uint64(i)*eqos.DescSize, eqos.DescSize) // the DMA sent it
		put(sh[12:], word(sh, 3)&^eqos.TDES3OWN)
		d.interrupt()
		if d.clean() != 1 {
			t.Fatal("not given back")
		}
	})
	if allocs != 0 {
		t.Errorf("a frame sent: %v allocations", allocs)
	}
}

func BenchmarkRelaySend(b *testing.B) {
	e := newEnv(&testing.T{})
	var regs regFile
	m, _ := eqos.New(&regs, eqos.Relaying{Guest: guestMem{e.bus}, InRAM: inRAM, Shadow: e.bus, ShadowBase: shadowBase, Wrote: func(addr, size uint64) {}})
	d := e.driver(m, 256, ramBase, false)
	d.open()
	f := frame(1, 1500)
	b.ResetTimer()
	for range b.N {
		i := d.txCur
		d.sendAt(i, d.txBuf(i), f)
		d.txCur = (i + 1) % d.n
		d.kickTX()
		sh := e.mem(shadowBase+uint64(i)*eqos.DescSize, eqos.DescSize)
		put(sh[12:], word(sh, 3)&^eqos.TDES3OWN)
		d.interrupt()
		d.clean()
	}
}

// A guest that stops a ring (before freeing it, as stmmac_release does)
// has what the device gave back copied back before the stop returns,
// the relay waiting for the device to say it stopped; a reset of the
// block (SWR) copies back and marks what the device gave back before it.
func TestGuestStop(t *testing.T) {
	var clock int64
	e := newEnvWith(t, func(rl *eqos.Relaying) {
		rl.Now = func() int64 { return clock }
		rl.Sleep = func(d time.Duration) { clock += int64(d) }
	})
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	e.dev.StopLag = 3
	if !e.dev.Receive(frame(1, 200)) {
		t.Fatal("not received")
	}
	d.w(ch(eqos.ChRxControl), d.r(ch(eqos.ChRxControl))&^eqos.RxControlSR)
	if st := e.dev.Read(eqos.RegDebugStatus0-eqos.Page, 4); st>>eqos.DebugRPS0Shift&0xf != 0 {
		t.Errorf("the stop returned with the device's receive process at %#x", st)
	}
	if w3 := word(d.desc(d.rxBase, 0), 3); w3&eqos.RDES3OWN != 0 || w3&eqos.RDES3PLMask != 200 {
		t.Errorf("descriptor 0 not copied back at the stop: RDES3 %#x", w3)
	}

	e = newEnv(t)
	d = e.driver(e.model, 8, ramBase, false)
	d.open()
	if !e.dev.Receive(frame(2, 300)) {
		t.Fatal("not received")
	}
	e.wrote = nil
	d.w(eqos.RegMode, eqos.ModeSWR)
	if !slices.Contains(e.wrote, [2]uint64{d.rxBuf(0), 300}) {
		t.Errorf("the reset marked %x, want the frame received before it", e.wrote)
	}
	e.checkBus()
}
