// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pl011

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/regfile"
)

// firmware returns a fake UART as firmware left it: 115200 baud at 24 MHz
// (IBRD 13, FBRD 1), 8N1 with FIFOs, enabled.
func firmware() *mmio.Fake {
	f := mmio.NewFake(0x1000)
	put := func(off uint64, v uint64) { f.Write(off, 4, v) }
	put(UARTIBRD, 13)
	put(UARTFBRD, 1)
	put(UARTLCR_H, 0x70)
	put(UARTCR, 0x301)
	f.Ops = nil
	return f
}

func TestCapture(t *testing.T) {
	f := firmware()
	f.Write(UARTIMSC, 4, 0x50|1<<20) // an undefined bit reads back: masked
	f.Write(UARTIFLS, 4, 0x12)
	f.Write(UARTDMACR, 4, 1)
	if s := Capture(f); *s != (State{IBRD: 13, FBRD: 1, LCRH: 0x70, CR: 0x301, IFLS: 0x12, IMSC: 0x50, DMACR: 1}) {
		t.Fatalf("Capture = %+v", s)
	}
	for _, o := range f.Ops {
		if o.Write && o.Off != UARTIMSC && o.Off != UARTIFLS && o.Off != UARTDMACR {
			t.Errorf("Capture wrote the UART: %v", o)
		}
	}
}

func TestReplayOrder(t *testing.T) {
	s := &State{IBRD: 0x1a, FBRD: 3, LCRH: 0x70, CR: 0x301, IFLS: 0x12, IMSC: 0x50, DMACR: 1}
	f := mmio.NewFake(0x1000)
	busy := 3
	f.OnRead = func(off uint64, size int) (uint64, bool) {
		if off == UARTFR && busy > 0 {
			busy--
			return FR_BUSY, true
		}
		return 0, false
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
		"W4 0x30=0x0",   // UARTCR: disable
		"R4 0x18=0x8",   // UARTFR: busy ...
		"R4 0x18=0x0",   // ... until the character is out
		"W4 0x2c=0x60",  // UARTLCR_H without FEN: flush the TX FIFO
		"W4 0x24=0x1a",  // UARTIBRD
		"W4 0x28=0x3",   // UARTFBRD
		"W4 0x2c=0x70",  // UARTLCR_H: latches the divisors
		"W4 0x34=0x12",  // UARTIFLS
		"W4 0x38=0x50",  // UARTIMSC
		"W4 0x48=0x1",   // UARTDMACR
		"W4 0x30=0x301", // UARTCR: enable
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("replay:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	// A UART that never goes idle: reported, configuration programmed anyway.
	f = mmio.NewFake(0x1000)
	f.OnRead = func(off uint64, size int) (uint64, bool) { return FR_BUSY, off == UARTFR }
	if err := s.Replay(f); err == nil || !strings.Contains(err.Error(), "BUSY") {
		t.Fatalf("stuck UART: %v", err)
	}
	if *Capture(f) != *s {
		t.Fatal("configuration not programmed")
	}
	bad := *s
	bad.CR = 1 << 20
	if err := bad.Replay(f); err == nil || !strings.Contains(err.Error(), "CR") {
		t.Fatalf("invalid state replayed: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := &State{IBRD: 0xffff, FBRD: 0x3f, LCRH: 0xff, CR: 0xff87, IFLS: 0x3f, IMSC: 0x7ff, DMACR: 7}
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
	good := (&State{IBRD: 13, CR: 0x301}).Encode()
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
		{"IBRD", func(s *State) { s.IBRD = 1 << 16 }}, {"FBRD", func(s *State) { s.FBRD = 1 << 6 }},
		{"LCRH", func(s *State) { s.LCRH = 1 << 8 }}, {"CR", func(s *State) { s.CR = 1 << 3 }},
		{"IFLS", func(s *State) { s.IFLS = 1 << 6 }}, {"IMSC", func(s *State) { s.IMSC = 1 << 11 }},
		{"DMACR", func(s *State) { s.DMACR = 1 << 3 }},
	} {
		s := State{}
		f.set(&s)
		if _, err := Decode(Version, s.Encode()); err == nil || !strings.Contains(err.Error(), "pl011: "+f.name+" is") {
			t.Errorf("%s out of range: %v", f.name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&State{IBRD: 13, FBRD: 1, LCRH: 0x70, CR: 0x301}).Encode())
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
