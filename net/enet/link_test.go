// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"errors"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/net/enet/fakeenet"
)

// With the cable out at Open, the driver waits LinkWait for a link, then
// starts the MAC anyway; a check after the link comes up sets the MAC up
// for what was negotiated, and later changes of speed and duplex too.
func TestLinkComesLater(t *testing.T) {
	r := newRig(t, fakeenet.Options{Unplugged: true}, Options{LinkWait: 2 * time.Second})
	if r.d.Link().Up {
		t.Fatal("link up with no partner")
	}
	if waited := r.clk.t.Sub(time.Unix(1e9, 0)); waited < 2*time.Second || waited > 3*time.Second {
		t.Fatalf("Open waited %v for the link, want about LinkWait", waited)
	}
	if c := r.fd.Config(); !c.Enabled || c.Speed != 1000 || !c.FullDuplex {
		t.Fatalf("MAC with no link: %+v", c)
	}
	r.fd.SetLink(true, 100, false)
	r.d.Idle() // within checkInterval of the last: no check
	if r.d.Link().Up {
		t.Fatal("the link was read again before checkInterval passed")
	}
	r.clk.sleep(checkInterval)
	r.d.Idle()
	if l := r.d.Link(); l != (Link{Up: true, Speed: 100, FullDuplex: true}) {
		t.Fatalf("link %v", l)
	}
	if c := r.fd.Config(); c.Speed != 100 || !c.FullDuplex {
		t.Fatalf("MAC after the link came at 100 full: %+v", c)
	}
	for _, tc := range []struct {
		speed int
		half  bool
	}{{10, true}, {1000, false}, {100, true}, {10, false}} {
		r.fd.SetLink(true, tc.speed, tc.half)
		r.clk.sleep(checkInterval)
		r.d.Idle()
		if c := r.fd.Config(); c.Speed != tc.speed || c.FullDuplex == tc.half {
			t.Fatalf("partner at %d half=%v: MAC %+v", tc.speed, tc.half, c)
		}
	}
	r.fd.SetLink(false, 0, false)
	r.clk.sleep(checkInterval)
	r.d.Idle()
	if r.d.Link().Up || r.d.Errors().LinkChanges != 2 {
		t.Fatalf("after the cable went: %v, %d changes", r.d.Link(), r.d.Errors().LinkChanges)
	}
	// Frames still flow through a restart for the new speed.
	r.fd.SetLink(true, 1000, false)
	r.clk.sleep(checkInterval)
	r.d.Idle()
	r.d.Transmit(frame(100, 0, peerMAC))
	r.d.Flush()
	if got := r.fd.Transmitted(); len(got) != 1 {
		t.Fatalf("after the link came back: %d frames sent", len(got))
	}
}

// A bus error stops the device for good: nothing more is sent or
// received, and Err says why.
func TestBusError(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{})
	r.fd.RaiseBusError()
	r.clk.sleep(checkInterval)
	r.d.Idle()
	if !errors.Is(r.d.Err(), ErrBusError) {
		t.Fatalf("Err = %v, want the bus error", r.d.Err())
	}
	if r.fd.Config().Enabled {
		t.Error("the MAC is still enabled")
	}
	if err := r.d.Transmit(frame(100, 0, peerMAC)); err == nil {
		t.Error("a stopped device took a frame")
	}
	if r.d.Arm(true) {
		t.Error("a stopped device reports work")
	}
}

// The speed resolution from the PHY's registers, every partner mode.
func TestLinkResolution(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{})
	for _, tc := range []struct {
		speed int
		half  bool
	}{{1000, false}, {1000, true}, {100, false}, {100, true}, {10, false}, {10, true}} {
		r.fd.SetLink(true, tc.speed, tc.half)
		l, err := r.d.readLink()
		if err != nil || l != (Link{Up: true, Speed: tc.speed, FullDuplex: !tc.half}) {
			t.Errorf("partner %d half=%v: %v, %v", tc.speed, tc.half, l, err)
		}
	}
	// BMSR's link bit latches low: a link that dropped and came back
	// reads down once.
	r.fd.SetLink(false, 1000, false)
	r.fd.SetLink(true, 1000, false)
	if l, _ := r.d.readLink(); !l.Up {
		t.Error("readLink reads BMSR once: the latched-low bit hides the present state")
	}
}

// The MDIO clock: at most 2.5 MHz from the IPG clock bound.
func TestMSCR(t *testing.T) {
	for _, tc := range []struct {
		ipg         uint64
		speed, hold uint32
	}{{266_666_666, 53, 2}, {66_666_666, 13, 0}, {50_000_000, 9, 0}} {
		d := &Device{opt: Options{IPGClock: tc.ipg}}
		v := d.mscr()
		speed, hold := v>>MSCRSpeedPos&MSCRSpeedMax, v>>MSCRHoldTimePos&7
		if speed != tc.speed || hold != tc.hold {
			t.Errorf("IPG %d Hz: MII_SPEED %d HOLDTIME %d, want %d %d", tc.ipg, speed, hold, tc.speed, tc.hold)
		}
		if mdc := tc.ipg / (2 * uint64(speed+1)); mdc > mdcMax {
			t.Errorf("IPG %d Hz: MDC %d Hz", tc.ipg, mdc)
		}
	}
}

func TestRegion(t *testing.T) {
	mem := make([]byte, 4096)
	for i := range mem {
		mem[i] = 0xaa
	}
	r, err := NewRegion(mem, 0x1000_0010, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, pa, err := r.Alloc(100, 64)
	if err != nil || pa != 0x1000_0040 || len(b) != 100 || cap(b) != 100 || b[0] != 0 || b[99] != 0 {
		t.Fatalf("Alloc(100, 64) = %d bytes at %#x, %v", len(b), pa, err)
	}
	if &b[0] != &mem[0x30] {
		t.Fatal("the buffer is not the window's bytes at its address")
	}
	if _, _, err := r.Alloc(4096, 8); err == nil {
		t.Fatal("an allocation past the window succeeded")
	}
	if _, _, err := r.Alloc(8, 3); err == nil {
		t.Fatal("alignment 3 accepted")
	}
}
