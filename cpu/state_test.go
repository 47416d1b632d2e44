// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import (
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/cpu/internal/sysregtab"
)

func sampleState() *State {
	s := &State{Features: FeatPAuth | FeatSVE, MIDR: 0xf0510, MPIDR: 0x80000000, ZCR: 0xf, SVEVL: 16}
	for i := range SVEPredSlots * 2 {
		s.SVEPred = append(s.SVEPred, byte(i*7))
	}
	for i := range s.Ctx.X {
		s.Ctx.X[i] = uint64(i) * 0x1111
	}
	s.Ctx.PC, s.Ctx.PSTATE = 0xffff800008001234, 0x3c5
	for i := range s.Ctx.V {
		s.Ctx.V[i] = ^uint64(i)
	}
	s.Ctx.FPCR, s.Ctx.FPSR = 0x3000000, 0x10
	for range SysRegNames {
		s.SysRegs = append(s.SysRegs, uint64(len(s.SysRegs))+0xabc)
	}
	for range PAuthKeyNames {
		s.PAuth = append(s.PAuth, uint64(len(s.PAuth))*3)
	}
	s.Debug = sampleDebug()
	return s
}

// sampleDebug is a guest's debug state on a CPU like QEMU's -cpu max (6
// breakpoints, 4 watchpoints), each set: enabled (E), EL0 and EL1 (PMC),
// a watchpoint of 8 bytes (BAS) for loads and stores (LSC).
func sampleDebug() Debug {
	d := Debug{MDCCINT: 1 << 29}
	for n := range 6 {
		d.BVR = append(d.BVR, 0x400000+uint64(n)*0x40)
		d.BCR = append(d.BCR, 0xf<<5|0b11<<1|1)
	}
	for n := range 4 {
		d.WVR = append(d.WVR, 0x4a0000+uint64(n)*8)
		d.WCR = append(d.WCR, 0xff<<5|0b11<<3|0b11<<1|1)
	}
	return d
}

func TestStateRoundTrip(t *testing.T) {
	s := sampleState()
	got, err := DecodeState(StateVersion, s.Encode())
	if err != nil {
		t.Fatal(err)
	}
	// exit-only fields are not part of the state
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("round trip differs:\n%+v\n%+v", got, s)
	}
}

func TestDecodeStateRejects(t *testing.T) {
	good := sampleState().Encode()
	mutate := func(f func(s *State)) []byte {
		s := sampleState()
		f(s)
		return s.Encode()
	}
	cases := map[string]struct {
		b    []byte
		want string
	}{
		"truncated":        {good[:len(good)-3], "truncated"},
		"trailing":         {append(append([]byte{}, good...), 0), "trailing"},
		"unknown feature":  {mutate(func(s *State) { s.Features |= 1 << 7 }), "unknown features"},
		"few sysregs":      {mutate(func(s *State) { s.SysRegs = s.SysRegs[:3] }), "system registers"},
		"keys w/o feature": {mutate(func(s *State) { s.Features = 0 }), "without the feature"},
		"missing keys":     {mutate(func(s *State) { s.PAuth = nil }), "pointer-authentication keys, want"},
		"AArch32 SVC":      {mutate(func(s *State) { s.Ctx.PSTATE = 0x13 }), "AArch32 mode other than User"},
		"AArch32 IRQ":      {mutate(func(s *State) { s.Ctx.PSTATE = 0x1d2 }), "AArch32 mode other than User"},
		"EL2 mode":         {mutate(func(s *State) { s.Ctx.PSTATE = 0x9 }), "not EL0t"},
		"breakpoints":      {mutate(func(s *State) { s.Debug.BCR = s.Debug.BCR[:5] }), "breakpoint values"},
		"watchpoints":      {mutate(func(s *State) { s.Debug.WVR = nil }), "watchpoint values"},
		"17 breakpoints": {mutate(func(s *State) {
			s.Debug.BVR, s.Debug.BCR = make([]uint64, 17), make([]uint64, 17)
		}), "over the limit"},
		"OS lock": {append(good[:len(good)-1:len(good)-1], 2), "OS lock"},
	}
	for name, c := range cases {
		if _, err := DecodeState(StateVersion, c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

func TestDecodeStateVersions(t *testing.T) {
	good := sampleState().Encode()
	for _, v := range []uint16{StateOldest - 1, StateVersion + 1} {
		if _, err := DecodeState(v, good); err == nil || !strings.Contains(err.Error(), "this Ferry reads") {
			t.Errorf("version %d: %v", v, err)
		}
	}
}

// A guest stopped while its EL0 runs a 32-bit process (User mode, A32 or
// T32, flags set) is captured and restored like any other.
func TestStateAArch32EL0(t *testing.T) {
	for _, pstate := range []uint64{0x10, 0x30, 0x80000010, 0x600001f0 &^ 0xf} {
		s := sampleState()
		s.Ctx.PSTATE = pstate
		for i := range 15 {
			s.Ctx.X[i] = uint64(i) | 0xf000_0000 // R0-R14
		}
		got, err := DecodeState(StateVersion, s.Encode())
		if err != nil {
			t.Fatalf("PSTATE %#x: %v", pstate, err)
		}
		if !reflect.DeepEqual(got, s) {
			t.Fatalf("PSTATE %#x: round trip differs", pstate)
		}
	}
}

func TestMode(t *testing.T) {
	for pstate, want := range map[uint64]string{0x3c5: "AArch64 EL1h", 0x0: "AArch64 EL0t", 0x4: "AArch64 EL1t",
		0x10: "AArch32 User", 0x80000030: "AArch32 User", 0x13: "AArch32 mode 0x13", 0x9: "AArch64 mode 0x9"} {
		if got := Mode(pstate); got != want {
			t.Errorf("Mode(%#x) = %q, want %q", pstate, got, want)
		}
	}
}

func TestTimerRoundTrip(t *testing.T) {
	tm := Timer{VirtCount: 123456789, CNTV_CTL: 1, CNTV_CVAL: 123460000, CNTP_CTL: 3, CNTP_Delta: 5}
	got, err := DecodeTimer(TimerVersion, tm.Encode())
	if err != nil || got != tm {
		t.Fatalf("DecodeTimer = %+v, %v", got, err)
	}
	b := tm.Encode()
	for _, bad := range [][]byte{b[:len(b)-1], append(b, 0)} {
		if _, err := DecodeTimer(TimerVersion, bad); err == nil {
			t.Errorf("%d bytes accepted", len(bad))
		}
	}
	if _, err := DecodeTimer(TimerVersion+1, b); err == nil || !strings.Contains(err.Error(), "this Ferry reads") {
		t.Errorf("a newer version: %v", err)
	}
}

// Every register a State carries has both accessors in the generated
// table: a name missing there would be a nil function called at EL2 in the
// middle of a migration.
func TestStateRegistersExist(t *testing.T) {
	have := map[string]sysregtab.SysReg{}
	for _, r := range sysregtab.SysRegs {
		have[r.Name] = r
	}
	for _, names := range [][]string{SysRegNames, PAuthKeyNames} {
		for _, n := range names {
			if r, ok := have[n]; !ok || !r.Read || !r.Write {
				t.Errorf("%s: in the table %v, readable and writable %v", n, ok, r.Read && r.Write)
			}
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(sampleState().Encode())
	v2 := sampleState()
	v2.Debug = Debug{}
	b := v2.Encode()
	f.Add(b[:len(b)-(4*4+2*8+1)])
	f.Fuzz(func(t *testing.T, b []byte) {
		// Every version this Ferry reads; a state read at any of them
		// re-encodes at the current one.
		for v := uint16(StateOldest); v <= StateVersion; v++ {
			s, err := DecodeState(v, b)
			if err == nil {
				again, err := DecodeState(StateVersion, s.Encode())
				if err != nil {
					t.Fatalf("version %d: re-encoding a valid state fails: %v", v, err)
				}
				if !reflect.DeepEqual(again, s) {
					t.Fatalf("version %d: re-encoding changes the state", v)
				}
			}
		}
	})
}

// A version 2 state (before the debug registers) still decodes, with no
// breakpoint set and the OS lock unlocked; one version's encoding is not
// taken for the other's.
func TestDecodeStateVersion2(t *testing.T) {
	s := sampleState()
	s.Debug = Debug{}
	v3 := s.Encode()
	v2 := v3[:len(v3)-(4*4+2*8+1)] // the debug tail of an empty Debug
	got, err := DecodeState(2, v2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Fatalf("version 2 decodes as %+v", got.Debug)
	}
	if _, err := DecodeState(3, v2); err == nil {
		t.Error("a version 2 encoding taken for version 3")
	}
	if _, err := DecodeState(2, sampleState().Encode()); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("a version 3 encoding read as version 2: %v", err)
	}
}

// TestDebugWrites: the restore writes every breakpoint and watchpoint the
// CPU has -- the guest's, then zeros -- and unlocks or locks the OS lock
// last (a CPU comes out of reset with it locked, which disables them all);
// a CPU with fewer than the guest used is refused before anything is
// written.
func TestDebugWrites(t *testing.T) {
	d := sampleDebug()
	w, err := d.DebugWrites(6, 4, false)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, x := range w {
		got[x.Name] = x.Value
	}
	if len(w) != 6*2+4*2+2 || len(got) != len(w) {
		t.Fatalf("%d writes (%d registers): %v", len(w), len(got), w)
	}
	for n := range 6 {
		if got[fmt.Sprintf("DBGBVR%d_EL1", n)] != d.BVR[n] || got[fmt.Sprintf("DBGBCR%d_EL1", n)] != d.BCR[n] {
			t.Errorf("breakpoint %d not written", n)
		}
	}
	for n := range 4 {
		if got[fmt.Sprintf("DBGWVR%d_EL1", n)] != d.WVR[n] || got[fmt.Sprintf("DBGWCR%d_EL1", n)] != d.WCR[n] {
			t.Errorf("watchpoint %d not written", n)
		}
	}
	if last := w[len(w)-1]; last != (RegWrite{"OSLAR_EL1", 0}) {
		t.Errorf("last write %+v, want the OS lock unlocked", last)
	}
	if got["MDCCINT_EL1"] != d.MDCCINT {
		t.Errorf("MDCCINT %#x", got["MDCCINT_EL1"])
	}

	// A capture reads the same registers back into the same places.
	var vals []uint64
	for _, n := range DebugReadNames(6, 4) {
		vals = append(vals, got[n])
	}
	var back Debug
	back.SetDebugRegs(6, 4, vals)
	if !reflect.DeepEqual(back.BVR, d.BVR) || !reflect.DeepEqual(back.BCR, d.BCR) || !reflect.DeepEqual(back.WVR, d.WVR) || !reflect.DeepEqual(back.WCR, d.WCR) {
		t.Errorf("captured back as %+v", back)
	}

	d.OSLK, d.OSDLR = true, 1
	w, _ = d.DebugWrites(16, 16, true)
	if len(w) != 16*4+3 || w[len(w)-1] != (RegWrite{"OSLAR_EL1", OSLAR_OSLK}) || w[len(w)-2] != (RegWrite{"OSDLR_EL1", 1}) {
		t.Fatalf("16/16 with the double lock: %d writes, ending %v", len(w), w[len(w)-2:])
	}
	for _, x := range w {
		if x.Name == "DBGBCR15_EL1" && x.Value != 0 {
			t.Errorf("a breakpoint the guest did not have is written %#x", x.Value)
		}
	}
	if _, err := d.DebugWrites(2, 4, false); err == nil || !strings.Contains(err.Error(), "this CPU has 2") {
		t.Errorf("6 breakpoints on a CPU with 2: %v", err)
	}
}

// Every debug register a restore writes has a writer in the generated
// table, and every one a capture reads a reader.
func TestDebugRegistersExist(t *testing.T) {
	have := map[string]sysregtab.SysReg{}
	for _, r := range sysregtab.SysRegs {
		have[r.Name] = r
	}
	d := Debug{OSLK: true}
	w, _ := d.DebugWrites(MaxBreakpoints, MaxBreakpoints, true)
	for _, x := range w {
		if r, ok := have[x.Name]; !ok || !r.Write {
			t.Errorf("%s: no writer", x.Name)
		}
	}
	for _, n := range append(DebugReadNames(MaxBreakpoints, MaxBreakpoints), "OSLSR_EL1", "OSDLR_EL1", "MDCCINT_EL1") {
		if r, ok := have[n]; !ok || !r.Read {
			t.Errorf("%s: no reader", n)
		}
	}
}
