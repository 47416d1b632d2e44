// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package link

import (
	"bytes"
	"fmt"
	"net"
	"testing"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// fakeDev is a Device with n transmit buffers, which the test sends
// (complete) and fills with received frames (rx).
type fakeDev struct {
	n        int
	inFlight int      // posted, not yet sent
	posted   [][]byte // posted and flushed, in order
	pending  [][]byte // posted, not flushed
	sent     int      // sent by the "hardware", not reclaimed
	rx       [][]byte
	idles    int
	stats    Stats
}

func (d *fakeDev) MAC() net.HardwareAddr { return net.HardwareAddr{2, 0, 0, 0, 0, 1} }
func (d *fakeDev) MaxFrame() int         { return 1514 }
func (d *fakeDev) Transmit(pieces ...[]byte) error {
	var f []byte
	for _, p := range pieces {
		f = append(f, p...)
	}
	if len(f) > d.MaxFrame() {
		d.stats.TxDrops++
		return fmt.Errorf("frame of %d bytes", len(f))
	}
	if d.inFlight == d.n {
		return ErrQueueFull
	}
	d.inFlight++
	d.pending = append(d.pending, f)
	d.stats.TxFrames++
	return nil
}
func (d *fakeDev) Flush() { d.posted, d.pending = append(d.posted, d.pending...), nil }
func (d *fakeDev) Reclaim() int {
	n := d.sent
	d.inFlight -= n
	d.sent = 0
	return n
}
func (d *fakeDev) Receive(max int, deliver func([]byte)) int {
	n := 0
	for ; n < max && len(d.rx) > 0; n++ {
		deliver(d.rx[0])
		d.rx = d.rx[1:]
	}
	return n
}
func (d *fakeDev) Interrupt() uint32 { return 0 }
func (d *fakeDev) Arm(tx bool) bool  { return len(d.rx) > 0 || tx && d.sent > 0 }
func (d *fakeDev) Idle()             { d.idles++ }
func (d *fakeDev) Stats() Stats      { return d.stats }
func (d *fakeDev) Err() error        { return nil }
func (d *fakeDev) complete() [][]byte { // the hardware sends what was flushed
	out := d.posted
	d.sent += len(out)
	d.posted = nil
	return out
}

func frame(n, seq int) []byte {
	f := make([]byte, n)
	for i := range f {
		f[i] = byte(seq + i)
	}
	return f
}

func packets(n, size int) stack.PacketBufferList {
	var pkts stack.PacketBufferList
	for i := 0; i < n; i++ {
		pkts.PushBack(stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame(size, i))}))
	}
	return pkts
}

// Frames the stack writes while every transmit buffer is with the
// hardware wait in the backlog and go out in order as buffers come back;
// past the backlog's bound they are dropped and counted.
func TestEndpointBacklog(t *testing.T) {
	d := &fakeDev{n: 8}
	ep := NewEndpoint(d)
	const n = 30
	pkts := packets(n, 100)
	if got, err := ep.WritePackets(pkts); got != n || err != nil {
		t.Fatalf("WritePackets = %d, %v", got, err)
	}
	pkts.DecRef()
	var got [][]byte
	for i := 0; i < 10 && len(got) < n; i++ {
		got = append(got, d.complete()...)
		ep.Poll()
	}
	if len(got) != n {
		t.Fatalf("device got %d frames, want %d", len(got), n)
	}
	for i := range got {
		if !bytes.Equal(got[i], frame(100, i)) {
			t.Fatalf("frame %d out of order or corrupt", i)
		}
	}
	if s := ep.Stats(); s.TxFrames != n || s.TxDrops != 0 {
		t.Errorf("stats %+v", s)
	}
	d.complete()
	ep.Poll()
	ep.backlogMax = 10 * 100
	pkts = packets(8+10+5, 100)
	ep.WritePackets(pkts)
	pkts.DecRef()
	if s := ep.Stats(); s.TxDrops != 5 {
		t.Errorf("TxDrops %d, want 5", s.TxDrops)
	}
	ep.Close()
}

// A frame the device refuses for another reason than a full queue is
// dropped, not backlogged (it would block the backlog for good).
func TestEndpointRefusedFrameDropped(t *testing.T) {
	d := &fakeDev{n: 8}
	ep := NewEndpoint(d)
	pkts := packets(1, 2000)
	ep.WritePackets(pkts)
	pkts.DecRef()
	if len(ep.backlog) != 0 || d.stats.TxDrops != 1 {
		t.Fatalf("an oversized frame: backlog %d, device drops %d", len(ep.backlog), d.stats.TxDrops)
	}
}

// Idle is asked of the device only when a Poll moved nothing.
func TestEndpointIdle(t *testing.T) {
	d := &fakeDev{n: 8}
	ep := NewEndpoint(d)
	d.rx = [][]byte{frame(60, 0)}
	if !ep.Poll() || d.idles != 0 {
		t.Fatalf("a Poll that received a frame: idles %d", d.idles)
	}
	if ep.Poll() || d.idles != 1 {
		t.Fatalf("an idle Poll: idles %d, want 1", d.idles)
	}
	if got := ep.Stats().RxDrops; got != 1 {
		t.Errorf("a frame with no stack attached: RxDrops %d, want 1", got)
	}
}
