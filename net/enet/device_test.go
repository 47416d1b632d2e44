// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"bytes"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/net/enet/fakeenet"
	"github.com/ferry-hv/ferry/net/link"
)

const (
	testBase = 0x30be0000 // the EVK's ENET1
	dmaBase  = 0x47e00000 // the top 2 MiB of a 128 MiB carve-out at 0x40000000
)

var (
	testMAC = net.HardwareAddr{0x02, 0xfe, 0, 0x77, 0, 0x11}
	peerMAC = net.HardwareAddr{0x02, 0xfe, 0, 0x77, 0, 0x12}
)

// clock is a manual clock: Sleep advances it.
type clock struct{ t time.Time }

func (c *clock) now() time.Time            { return c.t }
func (c *clock) sleep(d time.Duration)     { c.t = c.t.Add(d) }
func (c *clock) options(o Options) Options { o.Now, o.Sleep = c.now, c.sleep; return o }

type rig struct {
	d   *Device
	fd  *fakeenet.Device
	clk *clock
	mem []byte
}

func newRig(t *testing.T, fo fakeenet.Options, o Options) rig {
	t.Helper()
	r, err := openRig(t, fo, o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func openRig(t *testing.T, fo fakeenet.Options, o Options) (rig, error) {
	t.Helper()
	mem := make([]byte, 2<<20)
	if fo.PHY == 0 {
		fo.PHY = 1 // the EVK's: ethernet-phy@1
	}
	if o.PHY == 0 {
		o.PHY = fo.PHY
	}
	if o.MAC == nil {
		o.MAC = testMAC
	}
	fd := fakeenet.New(mem, dmaBase, fo)
	reg, err := NewRegion(mem, dmaBase, nil)
	if err != nil {
		t.Fatal(err)
	}
	clk := &clock{t: time.Unix(1e9, 0)}
	d, err := Open(fd, testBase, reg, clk.options(o))
	t.Cleanup(func() {
		if f := fd.Faults(); len(f) > 0 {
			t.Errorf("the MAC model recorded faults: %q", f)
		}
	})
	return rig{d: d, fd: fd, clk: clk, mem: mem}, err
}

// frame is an Ethernet frame of n bytes to peer, numbered seq.
func frame(n, seq int, to net.HardwareAddr) []byte {
	f := make([]byte, n)
	copy(f, to)
	copy(f[6:], peerMAC)
	f[12], f[13] = 0x08, 0x00
	for i := EthernetHeaderSize; i < n; i++ {
		f[i] = byte(seq*7 + i)
	}
	return f
}

func (r rig) receive(t *testing.T, max int) [][]byte {
	t.Helper()
	var got [][]byte
	r.d.Receive(max, func(f []byte) { got = append(got, append([]byte(nil), f...)) })
	return got
}

// Open stops the MAC, sets it up for the link the PHY negotiated (RGMII,
// 1000 Mbit/s full duplex, legacy little-endian descriptors, MAX_FL for a
// VLAN-tagged 1500-byte packet) and starts it with every receive buffer
// the MAC's.
func TestOpen(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{PHYMode: "rgmii-id"})
	c := r.fd.Config()
	want := fakeenet.Config{Enabled: true, Speed: 1000, FullDuplex: true, RGMII: true, MaxFL: 1522, MAC: [6]byte(testMAC)}
	if c != want {
		t.Errorf("MAC set up as %+v, want %+v", c, want)
	}
	if l := r.d.Link(); l != (Link{Up: true, Speed: 1000, FullDuplex: true}) {
		t.Errorf("link %v", l)
	}
	rx, tx := r.d.RingSizes()
	if rx != DefaultRing || tx != DefaultRing {
		t.Errorf("rings %d/%d", rx, tx)
	}
	for i := range rx {
		if _, st := r.fd.Descriptor(true, i); st&fakeenet.StatusEmpty == 0 || (st&fakeenet.StatusWrap != 0) != (i == rx-1) {
			t.Fatalf("receive descriptor %d: status %#x", i, st)
		}
	}
	if s := r.d.String(); !strings.Contains(s, "1000 Mbit/s full duplex") || !strings.Contains(s, testMAC.String()) {
		t.Errorf("String() = %q", s)
	}
	if w := r.fd.PHYWrites(); len(w) != 0 {
		t.Errorf("the PHY, negotiating already, was written: %#x (a reset loses the boot loader's set-up)", w)
	}
}

// The MAC address: Options.MAC, else what the boot loader left in
// PALR/PAUR, else a random locally administered unicast one.
func TestOpenMAC(t *testing.T) {
	boot := [6]byte{0x00, 0x04, 0x9f, 0x01, 0x02, 0x03}
	r := newRig(t, fakeenet.Options{MAC: boot}, Options{MAC: net.HardwareAddr{}})
	if got := r.d.MAC(); !bytes.Equal(got, boot[:]) {
		t.Errorf("MAC %v, want the boot loader's %v", got, net.HardwareAddr(boot[:]))
	}
	r = newRig(t, fakeenet.Options{}, Options{MAC: net.HardwareAddr{}})
	if m := r.d.MAC(); m[0]&1 != 0 || m[0]&2 == 0 || r.fd.Config().MAC != [6]byte(m) {
		t.Errorf("MAC %v: want a random locally administered unicast address, programmed", m)
	}
}

func TestOpenRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		fo   fakeenet.Options
		o    Options
		want string
	}{
		{"jumbo MTU", fakeenet.Options{}, Options{MTU: 9000}, "MTU 9000 out of range"},
		{"tiny ring", fakeenet.Options{}, Options{RxRing: 2}, "ring of 2 buffers"},
		{"huge ring", fakeenet.Options{}, Options{TxRing: 4096}, "ring of 4096 buffers"},
		{"phy-mode", fakeenet.Options{}, Options{PHYMode: "sgmii"}, `phy-mode "sgmii"`},
		{"multicast MAC", fakeenet.Options{}, Options{MAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}}, "not a unicast"},
		{"no PHY there", fakeenet.Options{PHY: 4}, Options{PHY: 1}, "no PHY answers at MDIO address 1"},
		{"no MDC", fakeenet.Options{NoMDC: true}, Options{}, "MDIO frame did not complete"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := openRig(t, tc.fo, tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Open: %v, want an error with %q", err, tc.want)
			}
		})
	}
	if _, err := NewRegion(make([]byte, 4096), 0xfffff000+4096, nil); err == nil {
		t.Error("a DMA window above 4 GiB was accepted")
	}
	mem := make([]byte, 64<<10)
	reg, _ := NewRegion(mem, dmaBase, nil)
	fd := fakeenet.New(mem, dmaBase, fakeenet.Options{PHY: 1})
	if _, err := Open(fd, testBase, reg, Options{PHY: 1}); err == nil || !strings.Contains(err.Error(), "exhausted") {
		t.Errorf("Open with a 64 KiB DMA window: %v, want it exhausted", err)
	}
}

// With PHY -1 the driver finds the PHY at whatever address it answers;
// one powered down (a boot loader that never used the port) is told to
// negotiate.
func TestPHYScanAndPowerUp(t *testing.T) {
	r := newRig(t, fakeenet.Options{PHY: 7, PoweredDown: true}, Options{PHY: -1})
	if r.d.phy != 7 {
		t.Fatalf("PHY found at %d, want 7", r.d.phy)
	}
	if w := r.fd.PHYWrites(); len(w) != 1 || w[0] != bmcrANEnable|bmcrANRestart {
		t.Fatalf("BMCR writes %#x, want one auto-negotiation restart", w)
	}
	if !r.d.Link().Up {
		t.Fatal("no link after the PHY negotiated")
	}
}

// Frames go out in order, short ones padded to 60 bytes, through three
// times around the ring; a frame larger than the MTU is refused and
// counted; with every buffer out, Transmit says the queue is full.
func TestTransmit(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{TxRing: 8})
	seq := 0
	for round := range 3 {
		for range 8 {
			size := 1514
			if seq%3 == 0 {
				size = 42 // an ARP frame: padded
			}
			if err := r.d.Transmit(frame(size, seq, peerMAC)[:20], frame(size, seq, peerMAC)[20:]); err != nil {
				t.Fatal(err)
			}
			seq++
		}
		if err := r.d.Transmit(frame(60, 0, peerMAC)); !errors.Is(err, link.ErrQueueFull) {
			t.Fatalf("round %d: a ninth frame: %v, want ErrQueueFull", round, err)
		}
		r.d.Flush()
		got := r.fd.Transmitted()
		if len(got) != 8 {
			t.Fatalf("round %d: %d frames on the wire, want 8", round, len(got))
		}
		for i, f := range got {
			s := round*8 + i
			want := frame(1514, s, peerMAC)
			if s%3 == 0 {
				want = append(frame(42, s, peerMAC), make([]byte, 18)...)
			}
			if !bytes.Equal(f, want) {
				t.Fatalf("frame %d corrupt or out of order (%d bytes)", s, len(f))
			}
		}
		if n := r.d.Reclaim(); n != 8 {
			t.Fatalf("round %d: reclaimed %d, want 8", round, n)
		}
	}
	if err := r.d.Transmit(make([]byte, 1515)); err == nil {
		t.Fatal("a 1515-byte frame (MTU 1500) was accepted")
	}
	if s := r.d.Stats(); s.TxFrames != 24 || s.TxDrops != 1 || s.TxNotifies != 3 {
		t.Errorf("stats %+v", s)
	}
}

// A descriptor the MAC gives back out of order waits for the ones before
// it: Reclaim takes back only the oldest, in order. The MAC then stops at
// the descriptor it gave back early, holding the one after it: the check
// after next finds the ring stalled and restarts the MAC on fresh rings,
// and frames flow again.
func TestReclaimInOrder(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{TxRing: 8})
	for i := range 3 {
		r.d.Transmit(frame(100, i, peerMAC))
	}
	r.fd.SetDescriptor(false, 1, 100, fakeenet.StatusLast|fakeenet.StatusTC) // "sent", before descriptor 0
	if n := r.d.Reclaim(); n != 0 {
		t.Fatalf("reclaimed %d with the oldest still the MAC's", n)
	}
	r.d.Flush()
	if got := r.fd.Transmitted(); len(got) != 1 {
		t.Fatalf("the MAC sent %d frames, want 1 (it stops at the descriptor given back early)", len(got))
	}
	if n := r.d.Reclaim(); n != 2 {
		t.Fatalf("reclaimed %d, want 2", n)
	}
	for range 2 {
		r.clk.sleep(checkInterval)
		r.d.Idle()
	}
	if e := r.d.Errors(); e.TxStalls != 1 {
		t.Fatalf("TxStalls %d after two checks with a frame held", e.TxStalls)
	}
	if s := r.d.Stats(); s.TxDrops != 1 {
		t.Errorf("TxDrops %d: the held frame is dropped at the restart", s.TxDrops)
	}
	r.d.Transmit(frame(100, 9, peerMAC))
	r.d.Flush()
	if got := r.fd.Transmitted(); len(got) != 1 || !bytes.Equal(got[0], frame(100, 9, peerMAC)) {
		t.Fatalf("after the restart: %d frames", len(got))
	}
	if n := r.d.Reclaim(); n != 1 {
		t.Fatalf("reclaimed %d after the restart", n)
	}
}

// ERR006358: a MAC that clears TDAR after each frame with more ready is
// kept going by Reclaim.
func TestTransmitKeepsTDAR(t *testing.T) {
	r := newRig(t, fakeenet.Options{DropTDAR: true}, Options{TxRing: 8})
	for i := range 5 {
		r.d.Transmit(frame(100, i, peerMAC))
	}
	r.d.Flush()
	var got [][]byte
	for i := 0; i < 10 && len(got) < 5; i++ {
		got = append(got, r.fd.Transmitted()...)
		r.d.Reclaim()
	}
	if len(got) != 5 {
		t.Fatalf("%d of 5 frames sent: the transmitter was not kept going", len(got))
	}
}

// Received frames are delivered in order with the CRC stripped, three
// times around the ring, each buffer given back to the MAC and RDAR set
// again.
func TestReceive(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{RxRing: 8})
	for round := range 3 {
		var sent [][]byte
		for i := range 8 {
			f := frame(60+i*200, round*8+i, testMAC)
			if !r.fd.Receive(f) {
				t.Fatalf("the MAC refused frame %d", i)
			}
			sent = append(sent, f)
		}
		got := r.receive(t, 100)
		if len(got) != 8 {
			t.Fatalf("round %d: %d frames, want 8", round, len(got))
		}
		for i := range got {
			if !bytes.Equal(got[i], sent[i]) {
				t.Fatalf("round %d frame %d: %d bytes, want %d", round, i, len(got[i]), len(sent[i]))
			}
		}
	}
	if c := r.fd.Counters(); c.Missed != 0 {
		t.Errorf("the MAC missed %d frames", c.Missed)
	}
	if r.fd.Receive(frame(100, 0, peerMAC)) {
		t.Error("the MAC took a frame for another address")
	}
	if !r.fd.Receive(frame(100, 0, net.HardwareAddr{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})) {
		t.Error("the MAC refused a broadcast frame")
	}
}

// A full ring: the MAC misses frames and clears RDAR; Receive gives the
// buffers back and sets RDAR, and frames flow again. Receive takes at
// most max frames at a time.
func TestReceiveRingFull(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{RxRing: 4})
	for i := range 6 {
		r.fd.Receive(frame(100, i, testMAC))
	}
	if c := r.fd.Counters(); c.Missed != 2 {
		t.Fatalf("missed %d, want 2", c.Missed)
	}
	if got := r.receive(t, 3); len(got) != 3 {
		t.Fatalf("Receive(3) took %d", len(got))
	}
	if got := r.receive(t, 3); len(got) != 1 {
		t.Fatalf("then %d, want the last one", len(got))
	}
	if !r.fd.Receive(frame(100, 9, testMAC)) {
		t.Fatal("RDAR was not set again")
	}
	if got := r.receive(t, 3); len(got) != 1 || !bytes.Equal(got[0], frame(100, 9, testMAC)) {
		t.Fatalf("after the ring drained: %d frames", len(got))
	}
}

// Hostile descriptor states: a length past the buffer, a runt, error
// bits, a frame spread over buffers (the first without Last), and a frame
// from the wire longer than a buffer (truncated by the MAC at FTRL). Each
// is dropped and counted, its buffers given back, and the frames after it
// are delivered; Receive never reads past a buffer.
func TestReceiveHostile(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{RxRing: 8})
	const last = fakeenet.StatusLast
	r.fd.SetDescriptor(true, 0, 5000, last)                     // longer than its buffer
	r.fd.SetDescriptor(true, 1, 3, last)                        // a runt
	r.fd.SetDescriptor(true, 2, 100, last|fakeenet.StatusCR)    // CRC error
	r.fd.SetDescriptor(true, 3, 100, last|fakeenet.StatusOV)    // overrun
	r.fd.SetDescriptor(true, 4, 1536, 0)                        // a frame over two buffers...
	r.fd.SetDescriptor(true, 5, 100, last)                      // ...whose tail looks like a frame
	r.fd.SetDescriptor(true, 6, 0xffff, last|fakeenet.StatusLG) // everything at once
	got := r.receive(t, 100)
	if len(got) != 0 {
		t.Fatalf("%d frames delivered from broken descriptors", len(got))
	}
	e := r.d.Errors()
	want := Errors{RxOversize: 1, RxLength: 2, RxCRC: 1, RxOverrun: 1, RxSplit: 2}
	if e != want {
		t.Errorf("errors %+v, want %+v", e, want)
	}
	for i := range 7 {
		if _, st := r.fd.Descriptor(true, i); st&fakeenet.StatusEmpty == 0 {
			t.Errorf("descriptor %d not given back: status %#x", i, st)
		}
	}
	// The MAC's own place is still 0, the driver's 7: a frame lands where
	// the driver does not look. The next check finds the ring out of
	// step and restarts the MAC; frames flow again.
	r.fd.Receive(frame(100, 0, testMAC))
	if got := r.receive(t, 100); len(got) != 0 {
		t.Fatalf("%d frames delivered out of step", len(got))
	}
	r.clk.sleep(checkInterval)
	r.d.Idle()
	if e := r.d.Errors(); e.RxDesyncs != 1 {
		t.Fatalf("RxDesyncs %d, want 1", e.RxDesyncs)
	}
	for i := range 10 {
		r.fd.Receive(frame(100, i, testMAC))
		if got := r.receive(t, 100); len(got) != 1 || !bytes.Equal(got[0], frame(100, i, testMAC)) {
			t.Fatalf("frame %d after the restart: %d delivered", i, len(got))
		}
	}
	r.fd.Receive(frame(2000, 0, testMAC)) // longer than a buffer
	r.fd.Receive(frame(200, 1, testMAC))
	got = r.receive(t, 100)
	if len(got) != 1 || !bytes.Equal(got[0], frame(200, 1, testMAC)) {
		t.Fatalf("after a 2000-byte frame: %d frames", len(got))
	}
	if e := r.d.Errors(); e.RxTruncated != 1 {
		t.Errorf("the truncated frame: errors %+v", e)
	}
	if s := r.d.Stats(); s.RxDrops != 8 || s.RxFrames != 11 {
		t.Errorf("stats %+v", s)
	}
}

// The interrupt cycle: never armed, the MAC raises no interrupt; armed, a
// frame raises it; Interrupt lowers it and holds further ones back until
// Arm, which reports what came meanwhile. Interrupt never acknowledges
// EIR.MII, which an MDIO access waits for.
func TestInterrupts(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{})
	r.fd.Receive(frame(100, 0, testMAC))
	if r.fd.Interrupting() {
		t.Fatal("a MAC never armed interrupted")
	}
	r.receive(t, 10)
	if r.d.Arm(false) {
		t.Fatal("Arm with nothing received reports work")
	}
	r.fd.Receive(frame(100, 1, testMAC))
	if !r.fd.Interrupting() {
		t.Fatal("an armed MAC did not interrupt for a frame")
	}
	if st := r.d.Interrupt(); st&EventRXF == 0 || r.fd.Interrupting() {
		t.Fatalf("Interrupt: events %#x, line still high %v", st, r.fd.Interrupting())
	}
	r.fd.Receive(frame(100, 2, testMAC))
	if r.fd.Interrupting() {
		t.Fatal("interrupts not held back after Interrupt")
	}
	if !r.d.Arm(false) {
		t.Fatal("Arm does not report the frames that came while held back")
	}
	if got := r.receive(t, 10); len(got) != 2 {
		t.Fatalf("%d frames, want 2", len(got))
	}
	if r.d.Arm(false) || r.d.Interrupt() != 0 {
		t.Fatal("an idle MAC reports work or events")
	}
	// Transmit completions interrupt only when asked for.
	r.d.Transmit(frame(100, 0, peerMAC))
	r.d.Flush()
	r.d.Arm(false)
	r.fd.Transmitted()
	if r.fd.Interrupting() {
		t.Fatal("a sent frame interrupted without txWait")
	}
	r.d.Reclaim()
	r.d.Transmit(frame(100, 0, peerMAC))
	r.d.Flush()
	if r.d.Arm(true) {
		t.Fatal("Arm(true) reports work before the MAC sent anything new")
	}
	r.fd.Transmitted()
	if !r.fd.Interrupting() {
		t.Fatal("a sent frame did not interrupt with txWait")
	}
	r.d.Interrupt()
	// EIR.MII survives Interrupt.
	r.d.r.Write32(RegMMFR, MMFRST|MMFROpRead|1<<MMFRPAPos|MMFRTA)
	r.d.Interrupt()
	if r.d.r.Read32(RegEIR)&EventMII == 0 {
		t.Fatal("Interrupt acknowledged EIR.MII")
	}
}
