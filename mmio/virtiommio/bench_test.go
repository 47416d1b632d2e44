// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtiommio_test

import (
	"testing"

	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
)

// BenchmarkReceive is the relay's work for one received frame as the
// guest's driver takes it: the interrupt handler's InterruptStatus and
// InterruptACK, then the buffer given back with a kick. It reports the
// model's device accesses per frame (each a trip to the device's
// emulation under QEMU).
func BenchmarkReceive(b *testing.B) {
	bd := newBoardWith(&testing.T{}, true)
	bd.driver()
	for h := uint16(0); h < qNum; h++ {
		bd.post(rxQ, h, bd.buf(h), 0x800, true)
	}
	f := frameN(1)
	used := uint16(0)
	bd.acc.n = 0
	for i := 0; b.Loop(); i++ {
		bd.dev.Receive(f)
		bd.wrote = bd.wrote[:0]
		if v := bd.interrupt(); v&vm.InterruptUsed == 0 {
			b.Fatalf("InterruptStatus %#x", v)
		}
		h := uint16(i % qNum)
		used++
		bd.usedEvent(rxQ, used)
		bd.post(rxQ, h, bd.buf(h), 0x800, true)
	}
	b.ReportMetric(float64(bd.acc.n)/float64(b.N), "device-accesses/op")
}

// BenchmarkTransmit is the relay's work for one frame sent: the kick, the
// chain copied and checked, and its used entry relayed back at the
// interrupt, with the model's device accesses per frame.
func BenchmarkTransmit(b *testing.B) {
	bd := newBoardWith(&testing.T{}, true)
	bd.driver()
	f := frameN(1)
	bd.acc.n = 0
	for i := 0; b.Loop(); i++ {
		bd.send(uint16(i%qNum), f)
		bd.wrote = bd.wrote[:0]
		bd.interrupt()
		bd.dev.Transmitted()
	}
	b.ReportMetric(float64(bd.acc.n)/float64(b.N), "device-accesses/op")
}
