// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package l2switch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	macA = MAC{0x52, 0x54, 0x00, 0x77, 0x00, 0x0a}
	macB = MAC{0x52, 0x54, 0x00, 0x77, 0x00, 0x0b}
	macC = MAC{0x52, 0x54, 0x00, 0x77, 0x00, 0x0c}

	broadcast = MAC{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}
	multicast = MAC{0x01, 0x00, 0x5e, 0x00, 0x00, 0x01}
	unknown   = MAC{0x52, 0x54, 0x00, 0x99, 0x99, 0x99}
)

// frame builds an Ethernet frame with a local experimental EtherType.
func frame(dst, src MAC, payload string) []byte {
	f := append(append(dst[:], src[:]...), 0x88, 0xb5)
	return append(f, payload...)
}

// logBuffer collects the switch's log lines.
type logBuffer struct {
	mu    sync.Mutex
	lines []string
}

func (l *logBuffer) logf(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, fmt.Sprintf(format, args...))
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.lines, "\n")
}

// rig is a switch serving on 127.0.0.1 with test connections as ports.
type rig struct {
	t    *testing.T
	sw   *Switch
	addr string
	log  *logBuffer
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	lb := &logBuffer{}
	cfg.Logf = lb.logf
	sw := New(cfg)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- sw.Serve(l) }()
	t.Cleanup(func() {
		sw.Close()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return &rig{t: t, sw: sw, addr: l.Addr().String(), log: lb}
}

// dial attaches n new ports and waits until the switch has them all.
func (r *rig) dial(n int) []net.Conn {
	r.t.Helper()
	before := r.openPorts()
	var cs []net.Conn
	for range n {
		c, err := net.Dial("tcp", r.addr)
		if err != nil {
			r.t.Fatal(err)
		}
		r.t.Cleanup(func() { c.Close() })
		cs = append(cs, c)
	}
	r.waitFor(fmt.Sprintf("%d open ports", before+n), func() bool { return r.openPorts() == before+n })
	return cs
}

func (r *rig) openPorts() int {
	n := 0
	for _, p := range r.sw.Stats().Ports {
		if p.Closed == "" {
			n++
		}
	}
	return n
}

func (r *rig) waitFor(what string, cond func() bool) {
	r.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			r.t.Fatalf("timed out waiting for %s; log:\n%s", what, r.log)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func send(t *testing.T, c net.Conn, f []byte) {
	t.Helper()
	if err := WriteFrame(c, f); err != nil {
		t.Fatalf("send: %v", err)
	}
}

func recv(t *testing.T, c net.Conn) []byte {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := ReadFrame(c, nil, MaxFrame)
	if err != nil {
		t.Fatalf("recv: %v", err)
	}
	return f
}

func expect(t *testing.T, c net.Conn, want []byte) {
	t.Helper()
	if got := recv(t, c); !bytes.Equal(got, want) {
		t.Fatalf("received %q, want %q", got, want)
	}
}

// marker sends a broadcast marker from ports[from] and checks that it is the
// next frame every other port receives: nothing else was queued to them.
func marker(t *testing.T, ports []net.Conn, macs []MAC, from int) {
	t.Helper()
	m := frame(broadcast, macs[from], fmt.Sprintf("marker from %d", from))
	send(t, ports[from], m)
	for i, c := range ports {
		if i != from {
			expect(t, c, m)
		}
	}
}

func TestLearnFloodForward(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(3)
	macs := []MAC{macA, macB, macC}

	// Broadcast from A reaches B and C, and A's address is learned.
	f := frame(broadcast, macA, "hello from A")
	send(t, p[0], f)
	expect(t, p[1], f)
	expect(t, p[2], f)
	if id, ok := r.sw.Lookup(macA); !ok || id != 1 {
		t.Fatalf("Lookup(A) = %d, %v; want port 1", id, ok)
	}

	// Unicast to a learned address goes to that port only.
	f = frame(macA, macB, "B to A")
	send(t, p[1], f)
	expect(t, p[0], f)
	marker(t, p, macs, 1) // C got nothing before the marker

	// Multicast and unknown unicast are flooded.
	f = frame(multicast, macC, "multicast from C")
	send(t, p[2], f)
	expect(t, p[0], f)
	expect(t, p[1], f)
	f = frame(unknown, macA, "A to nobody")
	send(t, p[0], f)
	expect(t, p[1], f)
	expect(t, p[2], f)

	// Now that everyone is learned, unicast C->B skips A.
	f = frame(macB, macC, "C to B")
	send(t, p[2], f)
	expect(t, p[1], f)
	marker(t, p, macs, 2)
	marker(t, p, macs, 0) // and nothing went back to its sender

	st := r.sw.Stats()
	if st.Flooded != 6 { // 1 broadcast, 1 multicast, 1 unknown, 3 markers
		t.Errorf("Flooded = %d, want 6", st.Flooded)
	}
	for i, m := range macs {
		ps, _ := st.Port(i + 1)
		if len(ps.MACs) != 1 || ps.MACs[0] != m.String() {
			t.Errorf("port %d learned %v, want [%v]", i+1, ps.MACs, m)
		}
	}
}

// A port whose link is down neither sends nor receives, and counts what
// it lost; up again, it carries on.
func TestSetLink(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(3)
	macs := []MAC{macA, macB, macC}
	for i := range p {
		marker(t, p, macs, i) // everyone learned
	}
	if err := r.sw.SetLink(2, false); err != nil {
		t.Fatal(err)
	}
	send(t, p[0], frame(macB, macA, "A to B, cut"))
	send(t, p[1], frame(macA, macB, "B to A, cut"))
	send(t, p[0], frame(broadcast, macA, "A to all"))
	expect(t, p[2], frame(broadcast, macA, "A to all"))
	send(t, p[2], frame(macA, macC, "C to A"))
	expect(t, p[0], frame(macA, macC, "C to A")) // nothing of B's came first
	if ps, _ := r.sw.Stats().Port(2); ps.Cut != 2 {
		t.Errorf("port 2 cut %d frames, want 2", ps.Cut)
	}
	if err := r.sw.SetLink(2, true); err != nil {
		t.Fatal(err)
	}
	marker(t, p, macs, 1)
	if err := r.sw.SetLink(9, false); err == nil {
		t.Error("no error for a port that is not there")
	}
}

func TestUnicastToSamePortIsFiltered(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(2)
	send(t, p[0], frame(broadcast, macA, "learn A"))
	expect(t, p[1], frame(broadcast, macA, "learn A"))
	// A second station behind port 1 talks to A: not sent back out.
	send(t, p[0], frame(macA, macC, "local"))
	marker(t, p, []MAC{macA, macB}, 0)
	if got := r.sw.Stats().Filtered; got != 1 {
		t.Errorf("Filtered = %d, want 1", got)
	}
}

func TestPortCloseForgetsMACs(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(3)
	send(t, p[0], frame(broadcast, macA, "learn A"))
	expect(t, p[1], frame(broadcast, macA, "learn A"))
	expect(t, p[2], frame(broadcast, macA, "learn A"))

	p[0].Close()
	r.waitFor("A forgotten", func() bool { _, ok := r.sw.Lookup(macA); return !ok })

	// A is unknown again: B's frame to it is flooded to C.
	f := frame(macA, macB, "B to A after A left")
	send(t, p[1], f)
	expect(t, p[2], f)

	ps, ok := r.sw.Stats().Port(1)
	if !ok || ps.Closed == "" {
		t.Fatalf("port 1 stats = %+v, %v; want closed", ps, ok)
	}
	if len(ps.MACs) != 1 || ps.MACs[0] != macA.String() || ps.RxFrames != 1 {
		t.Errorf("closed port 1 stats = %+v; want 1 frame from %v", ps, macA)
	}
}

func TestOversizedFrameClosesOnlyThatPort(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(3)

	var hdr [HeaderLen]byte
	binary.BigEndian.PutUint32(hdr[:], MaxFrame+1)
	if _, err := p[0].Write(hdr[:]); err != nil {
		t.Fatal(err)
	}
	p[0].SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := p[0].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("read on the offending port: %v, want EOF (closed by the switch)", err)
	}
	if log := r.log.String(); !strings.Contains(log, "error: closing port 1") || !strings.Contains(log, fmt.Sprint(MaxFrame+1)) {
		t.Errorf("log does not report the oversized frame:\n%s", log)
	}

	// The others still work, with frames up to the cap.
	for _, n := range []int{MinFrame, 1514, 9014, 65535 + 14, MaxFrame} {
		f := frame(broadcast, macB, strings.Repeat("x", n-MinFrame))
		send(t, p[1], f)
		expect(t, p[2], f)
	}
}

func TestRuntIsDroppedPortStaysOpen(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(2)
	send(t, p[0], []byte("short"))
	send(t, p[0], nil)
	f := frame(broadcast, macA, "after the runts")
	send(t, p[0], f)
	expect(t, p[1], f)
	ps, _ := r.sw.Stats().Port(1)
	if ps.Runts != 2 || ps.RxFrames != 3 || ps.Closed != "" {
		t.Errorf("port 1 = %+v; want 2 runts of 3 frames, open", ps)
	}
}

// A port that never reads gets its queue filled and frames dropped, while
// another port receives every frame, in order.
func TestSlowPortDoesNotBlockOthers(t *testing.T) {
	const queue, window, frames, size = 8, 4, 1000, 60000
	r := newRig(t, Config{QueueLen: queue})
	p := r.dial(3)
	src, fast := p[0], p[1] // p[2] never reads

	got := make(chan int, frames)
	errc := make(chan error, 1)
	go func() {
		for i := range frames {
			fast.SetReadDeadline(time.Now().Add(10 * time.Second))
			f, err := ReadFrame(fast, nil, MaxFrame)
			if err != nil {
				errc <- fmt.Errorf("frame %d: %v", i, err)
				return
			}
			if seq := int(binary.BigEndian.Uint32(f[MinFrame:])); seq != i || len(f) != size {
				errc <- fmt.Errorf("frame %d: got seq %d, %d bytes", i, seq, len(f))
				return
			}
			got <- i
		}
		errc <- nil
	}()
	f := frame(broadcast, macA, strings.Repeat("\x00", size-MinFrame))
	for i := range frames {
		if i >= window {
			select {
			case <-got:
			case err := <-errc:
				t.Fatal(err)
			}
		}
		f := bytes.Clone(f)
		binary.BigEndian.PutUint32(f[MinFrame:], uint32(i))
		send(t, src, f)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// The counters are updated after each flush: let the last one land.
	r.waitFor("fast port's counters", func() bool { p, _ := r.sw.Stats().Port(2); return p.TxFrames == frames })
	st := r.sw.Stats()
	slow, _ := st.Port(3)
	fastSt, _ := st.Port(2)
	if slow.Dropped == 0 || slow.Closed != "" {
		t.Errorf("slow port = %+v; want drops, still open", slow)
	}
	if fastSt.Dropped != 0 || fastSt.TxFrames != frames {
		t.Errorf("fast port = %+v; want %d frames sent, none dropped", fastSt, frames)
	}
	var out strings.Builder
	st.Write(&out)
	if !strings.Contains(out.String(), fmt.Sprint(slow.Dropped)) {
		t.Errorf("stats table lacks the drop count:\n%s", out.String())
	}
	t.Logf("\n%s", out.String())
}

func TestCloseEndsServeAndPorts(t *testing.T) {
	r := newRig(t, Config{})
	p := r.dial(2)
	r.sw.Close()
	for i, c := range p {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("port %d after Close: read %v, want EOF", i+1, err)
		}
	}
	if _, err := r.sw.Attach(nil); !errors.Is(err, ErrClosed) {
		t.Errorf("Attach after Close: %v, want ErrClosed", err)
	}
}

// fakeListener claims a non-loopback address without opening any socket.
type fakeListener struct{ net.Listener }

func (fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(10, 77, 0, 1), Port: 7777} }

func TestServeRefusesNonLoopback(t *testing.T) {
	sw := New(Config{Logf: t.Logf})
	defer sw.Close()
	err := sw.Serve(fakeListener{})
	if err == nil || !strings.Contains(err.Error(), "is not 127.0.0.1") {
		t.Fatalf("Serve on 10.77.0.1: %v, want a refusal", err)
	}
}

func TestCheckLoopback(t *testing.T) {
	for addr, ok := range map[string]bool{
		"127.0.0.1:7777": true,
		"[::1]:7777":     false,
		"127.0.0.2:1":    false,
		":7777":          false,
		"0.0.0.0:7777":   false,
		"10.77.0.1:7777": false,
		"localhost:7777": false,
		"127.0.0.1":      false,
	} {
		if err := CheckLoopback(addr); (err == nil) != ok {
			t.Errorf("CheckLoopback(%q) = %v, want ok=%v", addr, err, ok)
		}
	}
}

func TestReadFrame(t *testing.T) {
	var b bytes.Buffer
	WriteFrame(&b, []byte("0123456789abcdef"))
	f, err := ReadFrame(&b, nil, MaxFrame)
	if err != nil || string(f) != "0123456789abcdef" {
		t.Fatalf("ReadFrame = %q, %v", f, err)
	}
	if _, err := ReadFrame(&b, nil, MaxFrame); err != io.EOF {
		t.Errorf("at a frame boundary: %v, want io.EOF", err)
	}
	b.Write([]byte{0, 0, 0, 20, 'a'})
	if _, err := ReadFrame(&b, nil, MaxFrame); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("cut frame: %v, want io.ErrUnexpectedEOF", err)
	}
	b.Reset()
	b.Write([]byte{0, 0, 0, 21})
	if _, err := ReadFrame(&b, nil, 20); !errors.Is(err, ErrFrameTooLong) {
		t.Errorf("length 21 with cap 20: %v, want ErrFrameTooLong", err)
	}
}

// Start serves on a fresh port of 127.0.0.1 and Close stops it.
func TestStart(t *testing.T) {
	sw, addr, err := Start()
	if err != nil {
		t.Skip("no loopback:", err)
	}
	if err := CheckLoopback(addr); err != nil {
		t.Fatalf("Start listened on %s: %v", addr, err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	sw.Close()
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("the switch still accepts after Close")
	}
}
