// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio/eqos"
)

// A driver in stmmac's manner sends and receives frames through the
// relay, on rings in guest RAM below and above 4 GiB (EAME: 40-bit
// addresses in the descriptors), and the device touches nothing but the
// guest's buffers and the shadow rings.
func TestSendReceive(t *testing.T) {
	for _, c := range []struct {
		name string
		base uint64
		eame bool
	}{{"below 4 GiB", ramBase, false}, {"above 4 GiB, EAME", highBase, true}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.driver(e.model, 16, c.base, c.eame)
			d.open()
			if e.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChTxBase) != shadowBase {
				t.Errorf("the device's transmit list at %#x, want the shadow's %#x", e.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChTxBase), uint32(shadowBase))
			}
			if got := d.r(ch(eqos.ChTxBase)); got != uint32(c.base) {
				t.Errorf("the guest reads its transmit list address back as %#x, want %#x", got, uint32(c.base))
			}
			for i := range 3 {
				d.send(frame(i, 60+i))
			}
			if got := len(e.dev.Sent[0]); got != 3 {
				t.Fatalf("%d frames sent, want 3", got)
			}
			for i, f := range e.dev.Sent[0] {
				if !bytes.Equal(f, frame(i, 60+i)) {
					t.Errorf("frame %d sent as %x", i, f)
				}
			}
			if st := d.interrupt(); st&eqos.StatusTI == 0 {
				t.Errorf("status %#x: no TI", st)
			}
			if n := d.clean(); n != 3 {
				t.Errorf("%d transmit descriptors given back, want 3", n)
			}
			for i := range 2 {
				if !e.dev.Receive(frame(10+i, 100+i)) {
					t.Fatalf("frame %d not received", i)
				}
			}
			if st := d.interrupt(); st&eqos.StatusRI == 0 {
				t.Errorf("status %#x: no RI", st)
			}
			got := d.receive()
			if len(got) != 2 || !bytes.Equal(got[0], frame(10, 100)) || !bytes.Equal(got[1], frame(11, 101)) {
				t.Errorf("received %d frames: %x", len(got), got)
			}
			// The shadow holds the guest's addresses as checked, in the
			// address mode the device reads.
			sh := e.mem(shadowBase+eqos.MaxRing*eqos.DescSize+2*eqos.DescSize, eqos.DescSize)
			wantHi := uint32(0)
			if c.eame {
				wantHi = hi(d.rxBuf(2))
			}
			if word(sh, 0) != uint32(d.rxBuf(2)) || word(sh, 1) != wantHi {
				t.Errorf("shadow receive descriptor 2: %x, want buffer %#x", sh, d.rxBuf(2))
			}
			e.checkBus()
			e.faults(0)
		})
	}
}

// The same driver on the device directly points it where it likes: the
// test's memory and device let a hostile descriptor reach Ferry's
// carve-out when nothing relays it (so the relay's tests can fail).
func TestWithoutRelayTheCarveOutIsReached(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.dev, 8, ramBase, false)
	d.open()
	copy(e.mem(secretBase, 8), "secret!!")
	d.sendAt(0, secretBase, make([]byte, 8))
	d.txCur = 1
	d.kickTX()
	if len(e.dev.Sent[0]) != 1 || string(e.dev.Sent[0][0]) != "secret!!" {
		t.Fatalf("sent %q: the unrelayed device did not read the carve-out", e.dev.Sent[0])
	}
}

// A transmit descriptor whose buffer is in Ferry's carve-out, or outside
// RAM, or straddles RAM's end, is refused: a fault, nothing read from
// there, nothing more of the ring taken until the guest starts it again.
func TestTransmitBufferRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		addr uint64
		n    int
	}{
		{"in the carve-out", secretBase, 64},
		{"outside RAM", 0x9000_0000, 64},
		{"over RAM's end", ramBase + ramSize - 32, 64},
		{"at address 0", 0, 64},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.driver(e.model, 8, ramBase, false)
			d.open()
			d.send(frame(0, 60))
			d.sendAt(1, c.addr, make([]byte, c.n))
			d.sendAt(2, d.txBuf(2), frame(2, 60)) // after the bad one: not taken
			d.txCur = 3
			d.kickTX()
			if len(e.dev.Sent[0]) != 1 {
				t.Errorf("%d frames sent, want only the one before the refused descriptor", len(e.dev.Sent[0]))
			}
			e.checkBus()
			f := e.faults(1)
			if len(f) == 1 && !strings.Contains(f[0], "transmit descriptor 1") {
				t.Errorf("fault %q does not name the descriptor", f[0])
			}
			// The tail moves on: still nothing more.
			d.sendAt(3, d.txBuf(3), frame(3, 60))
			d.txCur = 4
			d.kickTX()
			if len(e.dev.Sent[0]) != 1 {
				t.Errorf("a stopped ring sent %d frames", len(e.dev.Sent[0]))
			}
			// The guest sets the ring up again (stmmac_tx_err): it runs.
			d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))&^eqos.TxControlST)
			d.w(ch(eqos.ChTxBase), uint32(d.txBase))
			d.txCur, d.txDone = 0, 0
			d.kickTX()
			d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|eqos.TxControlST)
			d.send(frame(9, 70))
			if n := len(e.dev.Sent[0]); n != 2 || !bytes.Equal(e.dev.Sent[0][1], frame(9, 70)) {
				t.Errorf("after a restart: %d frames sent", n)
			}
			e.checkBus()
		})
	}
}

// Receive descriptors pointing into the carve-out or outside RAM, or too
// close to RAM's end for RBSZ bytes, are refused: no frame is written
// there.
func TestReceiveBufferRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		addr uint64
	}{
		{"in the carve-out", secretBase},
		{"outside RAM", 0x9000_0000},
		{"RBSZ bytes over RAM's end", ramBase + ramSize - 1024},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.driver(e.model, 8, ramBase, false)
			for i := range d.n {
				d.refill(i, d.rxBuf(i))
			}
			d.open()
			if !e.dev.Receive(frame(0, 200)) {
				t.Fatal("frame 0 not received")
			}
			d.interrupt()
			if w3 := word(d.desc(d.rxBase, 0), 3); w3&eqos.RDES3OWN != 0 || w3&eqos.RDES3LD == 0 {
				t.Fatalf("descriptor 0 not given back: RDES3 %#x", w3)
			}
			// Descriptor 0 is given again, pointing at c.addr.
			d.refill(0, c.addr)
			d.rxCur = 1
			d.w(ch(eqos.ChRxTail), uint32(d.rxBase+eqos.DescSize))
			for range 8 {
				e.dev.Receive(frame(1, 200))
			}
			e.checkBus()
			e.faults(1)
			for _, a := range e.bus.Log {
				if a.Write && a.Addr >= carveBase && a.Addr < carveBase+carveSize && a.Size != 16 && a.Size != 4 {
					t.Errorf("the device wrote [%#x+%#x] in the carve-out", a.Addr, a.Size)
				}
			}
		})
	}
}

// A ring whose descriptors are not all in guest RAM is never given to
// the device: the start is refused, the device stays stopped and reads
// nothing.
func TestRingOutsideRAMRefused(t *testing.T) {
	for _, c := range []struct {
		name string
		base uint64
	}{
		{"in the carve-out", secretBase},
		{"over RAM's end", ramBase + ramSize - 8*eqos.DescSize},
		{"misaligned", ramBase + 8},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t)
			d := e.driver(e.model, 16, ramBase, false)
			d.txBase = c.base
			d.open()
			if e.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChTxControl)&eqos.TxControlST != 0 {
				t.Error("the device's transmit DMA started")
			}
			f := e.faults(1)
			if len(f) == 1 && !strings.Contains(f[0], "transmit ring not started") {
				t.Errorf("fault %q", f[0])
			}
			// The receive ring, in RAM, runs.
			if !e.dev.Receive(frame(1, 80)) {
				t.Error("the receive ring does not run")
			}
			d.w(ch(eqos.ChTxTail), uint32(c.base+3*eqos.DescSize))
			e.checkBus()
		})
	}
}

// The receive buffer size the buffers were checked for holds while the
// ring holds them; DSL and EDSE never reach the device; EAME does not
// change under a running ring; channels 1 to 4 take no write.
func TestSetUpKept(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	reg := func(off uint64) uint32 { return e.dev.Reg(int(off - eqos.Page)) }
	d.setRBSZ(8192)
	if got := reg(ch(eqos.ChRxControl)) & eqos.RxControlRBSZMask >> 1; got != 1536 {
		t.Errorf("the device's RBSZ is %d, want 1536 kept", got)
	}
	d.w(ch(eqos.ChControl), d.r(ch(eqos.ChControl))|3<<eqos.ControlDSLShift)
	if reg(ch(eqos.ChControl))&eqos.ControlDSLMask != 0 {
		t.Error("DSL reached the device")
	}
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|eqos.TxControlEDSE)
	if reg(ch(eqos.ChTxControl))&eqos.TxControlEDSE != 0 {
		t.Error("EDSE reached the device")
	}
	d.w(eqos.RegSysBusMode, eqos.SysBusEAME)
	if reg(eqos.RegSysBusMode)&eqos.SysBusEAME != 0 {
		t.Error("EAME changed under running rings")
	}
	c1 := uint64(eqos.ChanBase + eqos.ChanStride)
	d.w(c1+eqos.ChRxBase, uint32(secretBase))
	d.w(c1+eqos.ChRxControl, eqos.RxControlSR|1536<<1)
	if reg(c1+eqos.ChRxBase) != 0 || reg(c1+eqos.ChRxControl) != 0 {
		t.Error("channel 1 took a write")
	}
	e.faults(6)
	// The ring stopped and set up again: the size may change before the
	// start (stmmac_set_dma_bfsize).
	d.w(ch(eqos.ChRxControl), d.r(ch(eqos.ChRxControl))&^eqos.RxControlSR)
	d.w(ch(eqos.ChRxBase), uint32(d.rxBase))
	d.setRBSZ(2048)
	d.w(ch(eqos.ChRxControl), d.r(ch(eqos.ChRxControl))|eqos.RxControlSR)
	if got := reg(ch(eqos.ChRxControl)) & eqos.RxControlRBSZMask >> 1; got != 2048 {
		t.Errorf("the device's RBSZ is %d after an empty ring's restart, want 2048", got)
	}
	e.checkBus()
}

// Every width goes through the model: 8-byte stores of the ring's
// addresses are recorded, not performed, as two 32-bit ones; narrower
// accesses are refused and reach nothing.
func TestWidths(t *testing.T) {
	e := newEnv(t)
	d := e.driver(e.model, 8, ramBase, false)
	d.open()
	// One 8-byte store of the transmit list's high and low words
	// (0x10, 0x14): carve-out base.
	e.model.Write(eqos.ChanBase-eqos.Page+eqos.ChTxBaseHi, 8, uint64(secretBase)<<32)
	if got := e.dev.Reg(eqos.ChanBase - eqos.Page + eqos.ChTxBase); got != shadowBase {
		t.Errorf("the device's transmit list is %#x after an 8-byte store, want the shadow %#x", got, uint32(shadowBase))
	}
	if got := e.model.Read(eqos.ChanBase-eqos.Page+eqos.ChTxBaseHi, 8); got != uint64(secretBase)<<32 {
		t.Errorf("an 8-byte read gives %#x", got)
	}
	// A byte and a halfword store to the tail and to the control: refused.
	e.model.Write(eqos.ChanBase-eqos.Page+eqos.ChTxTail, 1, 0x10)
	e.model.Write(eqos.ChanBase-eqos.Page+eqos.ChRxControl, 2, 0)
	if e.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChRxControl)&eqos.RxControlSR == 0 {
		t.Error("a 2-byte store stopped the receive DMA")
	}
	e.faults(1)
	// Restarting the transmit ring takes the new list: in the carve-out,
	// refused.
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))&^eqos.TxControlST)
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|eqos.TxControlST)
	if e.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChTxControl)&eqos.TxControlST != 0 {
		t.Error("a transmit ring in the carve-out started")
	}
	e.checkBus()
}

// The firmware may leave a channel running on rings nobody checked: the
// model stops every channel first.
func TestFirmwareLeftRunning(t *testing.T) {
	e := newEnv(t)
	for ch := range 5 {
		at := eqos.ChanBase - eqos.Page + uint64(ch)*eqos.ChanStride
		e.dev.Write(at+eqos.ChRxControl, 4, eqos.RxControlSR|1536<<1)
		e.dev.Write(at+eqos.ChTxControl, 4, eqos.TxControlST)
	}
	if _, err := eqos.New(e.dev, eqos.Relaying{Guest: guestMem{e.bus}, InRAM: inRAM, Shadow: e.bus, ShadowBase: shadowBase}); err != nil {
		t.Fatal(err)
	}
	for ch := range 5 {
		at := eqos.ChanBase - eqos.Page + uint64(ch)*eqos.ChanStride
		if e.dev.Reg(int(at+eqos.ChRxControl))&eqos.RxControlSR != 0 || e.dev.Reg(int(at+eqos.ChTxControl))&eqos.TxControlST != 0 {
			t.Errorf("channel %d still runs", ch)
		}
	}
}
