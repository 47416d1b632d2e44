package pl011

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
)

// firmware returns a fake UART as firmware left it: 115200 baud at 24 MHz
// (IBRD 13, FBRD 1), 8N1 with FIFOs, enabled.
func firmware() *mmio.Fake {
	f := mmio.NewFake(pageSize)
	put := func(off uint64, v uint64) { f.Write(off, 4, v) }
	put(UARTIBRD, 13)
	put(UARTFBRD, 1)
	put(UARTLCR_H, 0x70)
	put(UARTCR, 0x301)
	put(UARTPeriphID0, 0x11)
	f.Ops = nil
	return f
}

func TestRecord(t *testing.T) {
	f := firmware()
	u := New(f)
	if s := u.State(); *s != (State{Version: Version, IBRD: 13, FBRD: 1, LCRH: 0x70, CR: 0x301}) {
		t.Fatalf("initial state %+v: want the firmware's configuration", *s)
	}
	f.Ops = nil
	// What Linux's amba-pl011 does in pl011_startup/pl011_set_termios, with
	// 16-bit accesses (UPIO_MEM), plus traffic that is not configuration.
	type acc struct {
		write bool
		off   uint64
		size  int
		v     uint64
	}
	seq := []acc{
		{true, UARTIFLS, 2, 0x12},        // RX 1/2, TX 1/4
		{true, UARTIMSC, 2, 0},           // mask everything
		{true, UARTICR, 2, 0x7ff},        // clear everything: forwarded, not state
		{true, UARTCR, 2, 0x0301},        // RXE|TXE|UARTEN
		{true, UARTIBRD, 2, 0x1a},        // 57600 baud
		{true, UARTFBRD, 2, 0x03},        //
		{true, UARTLCR_H, 2, 0x60},       // 8N1, FIFOs off
		{true, UARTLCR_H, 2, 0x70},       // FIFOs on
		{true, UARTIMSC, 2, 0x50},        // RX and RX timeout
		{true, UARTDMACR, 2, 0},          //
		{true, UARTDR, 2, 'x'},           // data
		{false, UARTFR, 2, 0},            // flags
		{false, UARTDR, 2, 0},            // data in
		{false, UARTRIS, 4, 0},           //
		{false, UARTPeriphID0, 4, 0},     // AMBA probe
		{true, UARTCR + 1, 1, 0xc3},      // byte write to CR[15:8]: CTSEn|RTSEn|RXE|TXE
		{true, UARTRSR, 4, 0},            // clear errors: forwarded, not state
		{true, UARTIBRD, 4, 0xfff0_0020}, // bits beyond the register are not kept
	}
	for _, a := range seq {
		if a.write {
			u.Write(a.off, a.size, a.v)
		} else {
			u.Read(a.off, a.size)
		}
	}
	if len(f.Ops) != len(seq) {
		t.Fatalf("device saw %d accesses, want %d (all forwarded): %v", len(f.Ops), len(seq), f.Ops)
	}
	for i, a := range seq {
		if o := f.Ops[i]; o.Write != a.write || o.Off != a.off || o.Size != a.size || (a.write && o.Val != a.v) {
			t.Errorf("access %d: device saw %v, want %+v", i, o, a)
		}
	}
	want := State{Version: Version, IBRD: 0x20, FBRD: 3, LCRH: 0x70, CR: 0xc301, IFLS: 0x12, IMSC: 0x50}
	if s := u.State(); *s != want {
		t.Fatalf("state %+v, want %+v", *s, want)
	}
	// The ID registers come from the device.
	if v := u.Read(UARTPeriphID0, 4); v != 0x11 {
		t.Errorf("PeriphID0 = %#x", v)
	}
}

func TestUnknownOffsets(t *testing.T) {
	f := firmware()
	u := New(f)
	var logs []string
	u.Log = func(s string) { logs = append(logs, s) }
	f.Ops = nil
	for range 3 {
		for _, a := range []struct {
			off  uint64
			size int
		}{{0x4c, 4}, {0x800, 4}, {UARTCR + 2, 4}, {0x1000, 4}, {UARTCR, 3}, {0xffc, 8}} {
			u.Write(a.off, a.size, ^uint64(0))
			if v := u.Read(a.off, a.size); v != 0 {
				t.Errorf("read %#x/%d = %#x, want 0", a.off, a.size, v)
			}
		}
	}
	if len(f.Ops) != 0 {
		t.Errorf("unknown offsets reached the UART: %v", f.Ops)
	}
	if len(logs) != 12 {
		t.Errorf("%d log lines, want 12 (each access once):\n%s", len(logs), strings.Join(logs, "\n"))
	}
	// An 8-byte access covering two known registers is forwarded whole.
	u.Write(UARTFBRD, 8, 0x0000_0060_0000_0005)
	if s := u.State(); s.FBRD != 5 || s.LCRH != 0x60 || len(f.Ops) != 1 {
		t.Errorf("8-byte write: %+v", *s)
	}
}

func TestReplayOrder(t *testing.T) {
	s := &State{Version: Version, IBRD: 0x1a, FBRD: 3, LCRH: 0x70, CR: 0x301, IFLS: 0x12, IMSC: 0x50, DMACR: 1}
	f := mmio.NewFake(pageSize)
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
	f = mmio.NewFake(pageSize)
	f.OnRead = func(off uint64, size int) (uint64, bool) { return FR_BUSY, off == UARTFR }
	u := New(f)
	if err := u.Restore(s); err == nil || !strings.Contains(err.Error(), "BUSY") {
		t.Fatalf("stuck UART: %v", err)
	}
	if *u.State() != *s || f.Read(UARTCR, 4) != 0x301 || f.Read(UARTIBRD, 4) != 0x1a {
		t.Fatal("configuration not programmed and recorded")
	}
	bad := *s
	bad.CR = 1 << 20
	if err := bad.Replay(f); err == nil || !strings.Contains(err.Error(), "CR") {
		t.Fatalf("invalid state replayed: %v", err)
	}
}

func TestStateRoundTrip(t *testing.T) {
	s := &State{Version: Version, IBRD: 0xffff, FBRD: 0x3f, LCRH: 0xff, CR: 0xff87, IFLS: 0x3f, IMSC: 0x7ff, DMACR: 7}
	b := s.Encode()
	if len(b) != EncodedSize {
		t.Fatalf("%d bytes, want %d", len(b), EncodedSize)
	}
	s2, err := Decode(b)
	if err != nil || *s2 != *s {
		t.Fatalf("Decode = %+v, %v", s2, err)
	}
}

func TestDecodeErrors(t *testing.T) {
	good := (&State{Version: Version, IBRD: 13, CR: 0x301}).Encode()
	for n := range len(good) {
		if _, err := Decode(good[:n]); !errors.Is(err, ErrSize) {
			t.Fatalf("truncated to %d bytes: %v", n, err)
		}
	}
	if _, err := Decode(append(bytes.Clone(good), 0)); !errors.Is(err, ErrSize) {
		t.Errorf("oversized: %v", err)
	}
	bad := bytes.Clone(good)
	bad[3] ^= 0x80
	if _, err := Decode(bad); !errors.Is(err, ErrMagic) {
		t.Errorf("magic: %v", err)
	}
	bad = bytes.Clone(good)
	bad[4] = 9
	if _, err := Decode(bad); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "Version 9") {
		t.Errorf("version: %v", err)
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
		s := State{Version: Version}
		f.set(&s)
		if _, err := Decode(s.Encode()); err == nil || !strings.Contains(err.Error(), "pl011: "+f.name+" is") {
			t.Errorf("%s out of range: %v", f.name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&State{Version: Version, IBRD: 13, FBRD: 1, LCRH: 0x70, CR: 0x301}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatal("accepted input does not re-encode to itself")
		}
	})
}
