// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import (
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
	return s
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
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeState(StateVersion, b)
		if err == nil {
			if _, err := DecodeState(StateVersion, s.Encode()); err != nil {
				t.Fatalf("re-encoding a valid state fails: %v", err)
			}
		}
	})
}
