// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imxuart

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/regfile"
)

// configured is a UART as Linux's imx driver leaves it at 115200 8N1 from
// a 80 MHz reference (UFCR RFDIV /2, UBIR 0xf, UBMR 0x15b): enabled, RX
// and TX on, the receive-ready interrupt enabled.
var configured = State{
	UCR1: 0x0201, UCR2: 0x4027, UCR3: 0x0704, UCR4: 0x8001, UFCR: 0x0a81,
	UESC: 0x2b, UTIM: 0, UBIR: 0x0f, UBMR: 0x15b, UTS: 0,
}

func TestCapture(t *testing.T) {
	f := mmio.NewFake(0x1000)
	for off, v := range map[uint64]uint64{
		UCR1: 0x0201, UCR2: 0x4027, UCR3: 0x0704, UCR4: 0x8001, UFCR: 0x0a81,
		UESC: 0x2b, UBIR: 0x0f, UBMR: 0x15b,
		UTS: 0x0060, // TXEMPTY and RXEMPTY: the device's status, not configuration
	} {
		f.Write(off, 4, v)
	}
	f.Write(UTIM, 4, 1<<16) // outside the register: not captured
	f.Ops = nil
	if s := Capture(f); *s != configured {
		t.Fatalf("Capture = %+v, want %+v", *s, configured)
	}
	for _, o := range f.Ops {
		if o.Write {
			t.Errorf("Capture wrote the UART: %v", o)
		}
	}
}

func TestReplayOrder(t *testing.T) {
	s := configured
	s.UCR2 &^= UCR2_SRST // as if captured mid-reset: Replay must not reset the UART
	f := mmio.NewFake(0x1000)
	busy := 2
	f.OnRead = func(off uint64, size int) (uint64, bool) {
		if off == USR2 && busy > 0 {
			busy--
			return 0, true
		}
		return USR2_TXDC, off == USR2
	}
	if err := s.Replay(f); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range f.Ops {
		if o.Write || len(got) == 0 || got[len(got)-1] != o.String() {
			got = append(got, o.String())
		}
	}
	want := []string{
		"R4 0x98=0x0",                                                                                 // USR2: still sending ...
		"R4 0x98=0x8",                                                                                 // ... TXDC
		"W4 0x90=0xa81", "W4 0x9c=0x2b", "W4 0xa0=0x0", "W4 0xa4=0xf", "W4 0xa8=0x15b", "W4 0xb4=0x0", // UFCR UESC UTIM UBIR UBMR UTS
		"W4 0x80=0x201", "W4 0x84=0x4027", "W4 0x88=0x704", "W4 0x8c=0x8001", // UCR1, UCR2 with SRST, UCR3, UCR4
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replay:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A UART that never completes: reported, configuration programmed anyway.
	f = mmio.NewFake(0x1000)
	if err := configured.Replay(f); err == nil || !strings.Contains(err.Error(), "TXDC") {
		t.Fatalf("stuck UART: %v", err)
	}
	if *Capture(f) != configured {
		t.Fatalf("configuration not programmed: %+v", *Capture(f))
	}
	bad := configured
	bad.UTS = 1 << 4 // TXFULL: status, not configuration
	if err := bad.Replay(f); err == nil || !strings.Contains(err.Error(), "UTS") {
		t.Fatalf("invalid state replayed: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := &State{UCR1: 0xffff, UCR2: 0xffff, UCR3: 0xffff, UCR4: 0xffff, UFCR: 0xffff, UESC: 0xff, UTIM: 0xfff, UBIR: 0xffff, UBMR: 0xffff, UTS: 0x3e00}
	b := s.Encode()
	if len(b) != EncodedSize {
		t.Fatalf("%d bytes, want %d", len(b), EncodedSize)
	}
	s2, err := Decode(Version, b)
	if err != nil || *s2 != *s {
		t.Fatalf("Decode = %+v, %v", s2, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := configured.Encode()
	for n := range len(good) {
		if _, err := Decode(Version, good[:n]); !errors.Is(err, regfile.ErrSize) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := Decode(Version, append(bytes.Clone(good), 0)); !errors.Is(err, regfile.ErrSize) {
		t.Errorf("oversized: %v", err)
	}
	if _, err := Decode(Version+1, good); err == nil || !strings.Contains(err.Error(), "this Ferry reads") {
		t.Errorf("a newer version: %v", err)
	}
	for _, f := range []struct {
		name string
		set  func(s *State)
	}{
		{"UCR1", func(s *State) { s.UCR1 = 1 << 16 }}, {"UCR4", func(s *State) { s.UCR4 = 1 << 16 }},
		{"UESC", func(s *State) { s.UESC = 1 << 8 }}, {"UTIM", func(s *State) { s.UTIM = 1 << 12 }},
		{"UTS", func(s *State) { s.UTS = 1 << 6 }}, {"UBMR", func(s *State) { s.UBMR = 1 << 16 }},
	} {
		s := configured
		f.set(&s)
		if _, err := Decode(Version, s.Encode()); err == nil || !strings.Contains(err.Error(), "imxuart: "+f.name+" is") {
			t.Errorf("%s out of range: %v", f.name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(configured.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(Version, b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatal("accepted input does not re-encode to itself")
		}
	})
}
