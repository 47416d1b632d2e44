// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos_test

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/mmio/eqos"
)

// offsets the fuzzer favours: channel 0's registers, the common ones,
// and channel 1's.
var fuzzOffsets = []uint64{
	eqos.RegMode, eqos.RegSysBusMode, eqos.RegIntStatus, eqos.RegDebugStatus0,
	ch(eqos.ChControl), ch(eqos.ChTxControl), ch(eqos.ChRxControl),
	ch(eqos.ChTxBaseHi), ch(eqos.ChTxBase), ch(eqos.ChRxBaseHi), ch(eqos.ChRxBase),
	ch(eqos.ChTxTail), ch(eqos.ChRxTail), ch(eqos.ChTxRingLen), ch(eqos.ChRxRingLen),
	ch(eqos.ChIntEnable), ch(eqos.ChStatus), ch(eqos.ChCurTxDesc), ch(eqos.ChCurRxDesc),
	eqos.ChanBase + eqos.ChanStride + eqos.ChRxControl, eqos.ChanBase + eqos.ChanStride + eqos.ChRxBase,
}

// addresses the fuzzer puts in descriptors and registers: guest RAM
// (below and above 4 GiB, at and near its ends), Ferry's carve-out and
// shadows, nothing, the boot ROM.
var fuzzAddrs = []uint64{
	ramBase, ramBase + 0x10000, ramBase + ramSize - 64, ramBase + ramSize - 2048, ramBase + ramSize,
	highBase, highBase + highSize - 1536, secretBase, shadowBase, shadowBase + eqos.MaxRing*eqos.DescSize,
	carveBase - 4096, 0, 0x9000_0000, 0xffff_ffff_0000,
}

// fuzzOps runs the operations data encodes against a board whose driver
// has opened the device through the relay: register accesses of every
// width, descriptors written by a hostile guest into its rings, frames
// arriving, the transmit engine running, pauses and restarts, resets
// behind the relay's back. Whatever they are, the device touches nothing
// but guest RAM and the shadows' descriptors, and the relay marks written
// nothing but guest RAM.
func fuzzOps(t *testing.T, data []byte) {
	var clock int64
	var e *env
	e = newEnvWith(t, func(rl *eqos.Relaying) {
		rl.Now = func() int64 { return clock }
		rl.Sleep = func(d time.Duration) { clock += int64(d); e.dev.RunTX(0) }
	})
	next := func(n int) []byte {
		if len(data) < n {
			data = append(data, make([]byte, n-len(data))...)
		}
		b := data[:n]
		data = data[n:]
		return b
	}
	if len(data) > 0 {
		e.dev.HoldTX = data[0]&1 != 0
		e.dev.StopLag = int(data[0] >> 1 & 3)
	}
	base := []uint64{ramBase, highBase}[len(data)%2]
	d := e.driver(e.model, 8, base, base == highBase)
	d.open()
	for steps := 0; len(data) > 0 && steps < 200; steps++ {
		op := next(1)[0]
		switch op % 9 {
		case 0, 1: // a register write
			b := next(10)
			off := fuzzOffsets[int(b[0])%len(fuzzOffsets)] - eqos.Page
			if b[1]&0x80 != 0 {
				off = uint64(binary.LittleEndian.Uint16(b[2:])) % eqos.PageSize
			}
			size := []int{4, 4, 8, 1, 2, 4, 8, 3}[b[1]&7]
			v := uint64(binary.LittleEndian.Uint32(b[4:]))
			if b[1]&0x40 != 0 {
				v = fuzzAddrs[int(b[8])%len(fuzzAddrs)] + uint64(b[9]&0xf0)
			}
			if b[1]&0x20 != 0 && size == 8 {
				v |= fuzzAddrs[int(b[9])%len(fuzzAddrs)] << 32
			}
			e.model.Write(off, size, v)
		case 2: // a register read
			b := next(2)
			e.model.Read(fuzzOffsets[int(b[0])%len(fuzzOffsets)]-eqos.Page, []int{4, 8, 2, 4}[b[1]&3])
		case 3, 4: // a descriptor written by the guest
			b := next(12)
			ring := []uint64{d.txBase, d.rxBase}[b[0]&1]
			i := int(b[1]) % d.n
			a1 := fuzzAddrs[int(b[2])%len(fuzzAddrs)] + uint64(b[3])*16
			a2 := fuzzAddrs[int(b[4])%len(fuzzAddrs)]
			w2 := uint32(binary.LittleEndian.Uint16(b[5:])) | uint32(b[7])<<16 | uint32(b[8])<<24
			w3 := uint32(b[9])<<24 | uint32(b[10])<<16 | uint32(b[11])
			w3 |= eqos.TDES3OWN
			if b[0]&2 != 0 {
				w2 = uint32(a2)
				w3 = w3&^0xffff | uint32(a2>>32)&0xffff
			}
			put(d.desc(ring, i), uint32(a1), uint32(a1>>32), w2, w3)
		case 5: // a frame arrives
			n := int(next(2)[0])*12 + 1
			e.dev.Receive(frame(n, n))
		case 6:
			e.dev.RunTX(0)
		case 7: // a pause, and the migration fails
			if err := e.model.Stop(time.Millisecond); err == nil && next(1)[0]&1 != 0 {
				e.model.Restart()
			}
		case 8: // the block reset behind the relay's back, or a driver's step
			switch next(1)[0] % 4 {
			case 0:
				e.dev.Write(eqos.RegMode-eqos.Page, 4, eqos.ModeSWR)
			case 1:
				d.send(frame(1, 100))
			case 2:
				d.interrupt()
				d.receive()
			case 3:
				d.clean()
			}
		}
	}
	e.dev.RunTX(0)
	e.dev.Receive(frame(0, 1500))
	e.checkBus()
	// After a pause every byte of guest RAM the device wrote is marked.
	e.dev.Hang = false
	if err := e.model.Stop(time.Millisecond); err != nil {
		t.Fatal(err)
	}
	for _, a := range e.bus.Log {
		if a.Write && inRAM(a.Addr, uint64(a.Size)) && !covered(e.wrote, a.Addr, uint64(a.Size)) {
			t.Errorf("the device wrote [%#x+%#x], not all of it marked", a.Addr, a.Size)
		}
	}
}

// covered reports whether the ranges ws cover [addr, addr+n).
func covered(ws [][2]uint64, addr, n uint64) bool {
	for at := addr; at < addr+n; {
		next := at
		for _, w := range ws {
			if w[0] <= at && at < w[0]+w[1] {
				next = max(next, w[0]+w[1])
			}
		}
		if next == at {
			return false
		}
		at = next
	}
	return true
}

func FuzzRelay(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 8, 1, 8, 1, 5, 3, 2, 8, 2})
	f.Add([]byte{1, 3, 0, 2, 1, 0, 0x40, 0x10, 0, 1, 3, 4, 5, 6, 7, 8, 9, 5, 3})
	f.Add([]byte{3, 0, 1, 7, 0, 0, 0, 0, 0, 0, 0, 0x80, 0, 9, 0, 8, 1})
	f.Add([]byte{0, 0, 0x62, 0, 0, 0, 0, 0, 0, 7, 1, 8, 1})
	f.Fuzz(fuzzOps)
}

// TestRelayRandom runs the fuzzer's operations from random inputs, so
// that every test run tries many sequences.
func TestRelayRandom(t *testing.T) {
	n := 300
	if testing.Short() {
		n = 30
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range n {
		data := make([]byte, 50+r.IntN(600))
		for k := range data {
			data[k] = byte(r.Uint32())
		}
		ok := t.Run("", func(t *testing.T) { fuzzOps(t, data) })
		if !ok {
			t.Fatalf("sequence %d failed: %x", i, data)
		}
	}
}
