// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos_test

import (
	"encoding/binary"
	"fmt"
	"slices"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmio/eqos/fakeeqos"
)

// The test board's memory, as the i.MX8M Plus EVK's is laid out: Ferry's
// carve-out below guest RAM (its top part Non-cacheable, where the shadow
// rings are), and guest RAM in two ranges, one above 4 GiB.
const (
	carveBase  = 0x47f0_0000
	shadowBase = carveBase           // eqos.ShadowSize bytes
	secretBase = carveBase + 0x10000 // Ferry's own, past the shadows
	carveSize  = 0x10_0000
	ramBase    = 0x4800_0000
	ramSize    = 4 << 20
	highBase   = 0x1_0000_0000
	highSize   = 1 << 20
	pageSize   = 4096
)

// env is a board: the bus with its memory, the device and the relay over
// it, and what the relay marked written.
type env struct {
	t     *testing.T
	bus   *fakeeqos.Bus
	dev   *fakeeqos.Device
	model *eqos.Model
	dirty map[uint64]bool // guest pages Wrote marked
	wrote [][2]uint64
	logs  []string
}

func inRAM(addr, size uint64) bool {
	for _, r := range [][2]uint64{{ramBase, ramSize}, {highBase, highSize}} {
		if addr >= r[0] && addr+size >= addr && addr+size <= r[0]+r[1] {
			return true
		}
	}
	return false
}

func newEnv(t *testing.T) *env { return newEnvWith(t, nil) }

// newEnvWith is newEnv with the relay's environment changed by set.
func newEnvWith(t *testing.T, set func(*eqos.Relaying)) *env {
	t.Helper()
	bus := &fakeeqos.Bus{Regions: []*fakeeqos.Region{
		{Name: "carve-out", Base: carveBase, B: make([]byte, carveSize)},
		{Name: "RAM", Base: ramBase, B: make([]byte, ramSize)},
		{Name: "RAM above 4 GiB", Base: highBase, B: make([]byte, highSize)},
	}}
	e := &env{t: t, bus: bus, dev: fakeeqos.New(bus), dirty: map[uint64]bool{}}
	rl := eqos.Relaying{
		Guest: guestMem{bus}, InRAM: inRAM, Shadow: bus, ShadowBase: shadowBase,
		Wrote: func(addr, size uint64) {
			if !inRAM(addr, size) {
				t.Errorf("Wrote [%#x+%#x]: not guest RAM", addr, size)
			}
			e.wrote = append(e.wrote, [2]uint64{addr, size})
			for p := addr / pageSize; p <= (addr+size-1)/pageSize; p++ {
				e.dirty[p] = true
			}
		},
	}
	if set != nil {
		set(&rl)
	}
	m, err := eqos.New(e.dev, rl)
	if err != nil {
		t.Fatal(err)
	}
	m.Log = func(s string) { e.logs = append(e.logs, s) }
	e.model = m
	return e
}

// guestMem is guest RAM alone, as hyp gives the relay.
type guestMem struct{ bus *fakeeqos.Bus }

func (g guestMem) Slice(addr uint64, n int) ([]byte, error) {
	if !inRAM(addr, uint64(n)) {
		return nil, fmt.Errorf("[%#x+%#x] is not guest RAM", addr, n)
	}
	return g.bus.Slice(addr, n)
}

// checkBus fails the test if the device touched memory other than guest
// RAM and the shadow rings' descriptors.
func (e *env) checkBus() {
	e.t.Helper()
	for _, a := range e.bus.Log {
		if inRAM(a.Addr, uint64(a.Size)) {
			continue
		}
		if a.Addr >= shadowBase && a.Addr+uint64(a.Size) <= shadowBase+eqos.ShadowSize && (a.Size == 16 || a.Size == 4) {
			continue
		}
		e.t.Errorf("the device accessed [%#x+%#x] (write %v): neither guest RAM nor a shadow descriptor", a.Addr, a.Size, a.Write)
	}
	if len(e.dev.Faults) > 0 {
		e.t.Errorf("the device's faults: %q", e.dev.Faults)
	}
}

// faults are the model's faults, and checks there are as many.
func (e *env) faults(want int) []string {
	e.t.Helper()
	f := e.model.Faults()
	if len(f) != want {
		e.t.Errorf("%d faults, want %d: %q", len(f), want, f)
	}
	return f
}

func (e *env) mem(addr uint64, n int) []byte {
	b, err := e.bus.Slice(addr, n)
	if err != nil {
		e.t.Fatal(err)
	}
	return b
}

// driver is a guest's driver in the manner of Linux's stmmac (dwmac4
// DMA, dwmac4_descs.c's normal descriptors): one channel, its rings and
// buffers in guest RAM, every register access through regs.
type driver struct {
	e      *env
	regs   mmio.Device
	eame   bool
	n      int
	txBase uint64
	rxBase uint64
	bufs   uint64 // 2n buffers of bufSize: transmit, then receive
	bufSz  int
	rxOff  uint64 // where in its buffer area each receive buffer starts
	txCur  int
	txDone int
	rxCur  int
}

func (e *env) driver(regs mmio.Device, n int, base uint64, eame bool) *driver {
	return &driver{e: e, regs: regs, eame: eame, n: n, txBase: base, rxBase: base + 0x4000, bufs: base + 0x8000, bufSz: 1536}
}

func (d *driver) w(off uint64, v uint32) { d.regs.Write(off-eqos.Page, 4, uint64(v)) }
func (d *driver) r(off uint64) uint32    { return uint32(d.regs.Read(off-eqos.Page, 4)) }
func ch(reg uint64) uint64               { return eqos.ChanBase + reg }

func (d *driver) desc(base uint64, i int) []byte {
	return d.e.mem(base+uint64(i)*eqos.DescSize, eqos.DescSize)
}
func (d *driver) txBuf(i int) uint64 { return d.bufs + uint64(i*d.bufSz) }
func (d *driver) rxBuf(i int) uint64 { return d.bufs + uint64((d.n+i)*d.bufSz) + d.rxOff }

func put(b []byte, w ...uint32) {
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
}

func word(b []byte, i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }

func hi(a uint64) uint32 { return uint32(a >> 32) }

// refill gives receive descriptor i its buffer (dwmac4_set_addr,
// set_rx_owner).
func (d *driver) refill(i int, addr uint64) {
	b := d.desc(d.rxBase, i)
	put(b, uint32(addr), 0, 0)
	if d.eame {
		put(b[4:], hi(addr))
	}
	put(b[12:], eqos.RDES3OWN|eqos.RDES3IOC|eqos.RDES3BUF1V)
}

// open is stmmac_hw_setup's order: reset, bus mode, channel, the receive
// ring and its tail (one past its end: every descriptor the DMA's), the
// transmit ring and its tail (its base: none), the ring lengths, the
// buffer size, then both starts.
func (d *driver) open() {
	d.w(eqos.RegMode, eqos.ModeSWR)
	for i := 0; d.r(eqos.RegMode)&eqos.ModeSWR != 0; i++ {
		if i > 100 {
			d.e.t.Fatal("DMA_Mode.SWR does not clear")
		}
	}
	if d.eame {
		d.w(eqos.RegSysBusMode, d.r(eqos.RegSysBusMode)|eqos.SysBusEAME)
	}
	d.w(ch(eqos.ChControl), d.r(ch(eqos.ChControl))|1<<16) // PBLx8
	d.w(ch(eqos.ChIntEnable), 1<<15|1<<6|1<<0)             // NIE, RIE, TIE
	for i := range d.n {
		d.refill(i, d.rxBuf(i))
	}
	d.w(ch(eqos.ChRxControl), d.r(ch(eqos.ChRxControl))|8<<16)
	if d.eame {
		d.w(ch(eqos.ChRxBaseHi), hi(d.rxBase))
	}
	d.w(ch(eqos.ChRxBase), uint32(d.rxBase))
	d.w(ch(eqos.ChRxTail), uint32(d.rxBase+uint64(d.n)*eqos.DescSize))
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|8<<16|1<<4)
	if d.eame {
		d.w(ch(eqos.ChTxBaseHi), hi(d.txBase))
	}
	d.w(ch(eqos.ChTxBase), uint32(d.txBase))
	d.w(ch(eqos.ChTxTail), uint32(d.txBase))
	d.w(ch(eqos.ChTxRingLen), uint32(d.n-1))
	d.w(ch(eqos.ChRxRingLen), uint32(d.n-1))
	d.setRBSZ(d.bufSz)
	d.w(ch(eqos.ChRxControl), d.r(ch(eqos.ChRxControl))|eqos.RxControlSR)
	d.w(ch(eqos.ChTxControl), d.r(ch(eqos.ChTxControl))|eqos.TxControlST)
}

func (d *driver) setRBSZ(n int) {
	v := d.r(ch(eqos.ChRxControl))&^eqos.RxControlRBSZMask | uint32(n)<<eqos.RxControlRBSZShift
	d.w(ch(eqos.ChRxControl), v)
}

// sendAt puts frame in transmit descriptor i's buffer at addr (its
// first and last descriptor, IOC set), OWN last.
func (d *driver) sendAt(i int, addr uint64, frame []byte) {
	if addr != 0 && inRAM(addr, uint64(len(frame))) {
		copy(d.e.mem(addr, len(frame)), frame)
	}
	b := d.desc(d.txBase, i)
	put(b, uint32(addr), 0, uint32(len(frame))|eqos.TDES2IOC, 0)
	if d.eame {
		put(b[4:], hi(addr))
	}
	put(b[12:], eqos.TDES3OWN|eqos.TDES3FD|eqos.TDES3LD|uint32(len(frame)))
}

// send is stmmac_xmit: one descriptor, then the tail pointer past it.
func (d *driver) send(frame []byte) {
	d.sendAt(d.txCur, d.txBuf(d.txCur), frame)
	d.txCur = (d.txCur + 1) % d.n
	d.kickTX()
}

func (d *driver) kickTX() { d.w(ch(eqos.ChTxTail), uint32(d.txBase+uint64(d.txCur)*eqos.DescSize)) }

// interrupt is dwmac4_dma_interrupt: the channel's status read and
// cleared.
func (d *driver) interrupt() uint32 {
	st := d.r(ch(eqos.ChStatus))
	d.w(ch(eqos.ChStatus), st)
	return st
}

// clean is stmmac_tx_clean: the descriptors the DMA gave back, in order.
func (d *driver) clean() int {
	n := 0
	for d.txDone != d.txCur {
		b := d.desc(d.txBase, d.txDone)
		if word(b, 3)&eqos.TDES3OWN != 0 {
			break
		}
		put(b, 0, 0, 0, 0)
		d.txDone = (d.txDone + 1) % d.n
		n++
	}
	return n
}

// receive is stmmac_rx and stmmac_rx_refill: the frames the DMA gave
// back (one descriptor each), each descriptor given its buffer again, then
// the tail pointer at the next one.
func (d *driver) receive() [][]byte {
	var out [][]byte
	for range d.n {
		b := d.desc(d.rxBase, d.rxCur)
		w3 := word(b, 3)
		if w3&eqos.RDES3OWN != 0 {
			break
		}
		if w3&eqos.RDES3LD != 0 {
			out = append(out, slices.Clone(d.e.mem(d.rxBuf(d.rxCur), int(w3&eqos.RDES3PLMask))))
		}
		d.refill(d.rxCur, d.rxBuf(d.rxCur))
		d.rxCur = (d.rxCur + 1) % d.n
	}
	d.w(ch(eqos.ChRxTail), uint32(d.rxBase+uint64(d.rxCur)*eqos.DescSize))
	return out
}

func frame(i, n int) []byte {
	f := make([]byte, n)
	for k := range f {
		f[k] = byte(i*7 + k)
	}
	return f
}
