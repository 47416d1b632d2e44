package cpu

import (
	"reflect"
	"strings"
	"testing"
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
	s.Timer = Timer{VirtCount: 123456789, CNTV_CTL: 1, CNTV_CVAL: 123460000, CNTP_Delta: 5}
	return s
}

func TestStateRoundTrip(t *testing.T) {
	s := sampleState()
	got, err := DecodeState(s.Encode())
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
		"version":          {append([]byte{9, 0}, good[2:]...), "version 9"},
		"unknown feature":  {mutate(func(s *State) { s.Features |= 1 << 7 }), "unknown features"},
		"few sysregs":      {mutate(func(s *State) { s.SysRegs = s.SysRegs[:3] }), "system registers"},
		"keys w/o feature": {mutate(func(s *State) { s.Features = 0 }), "without the feature"},
		"missing keys":     {mutate(func(s *State) { s.PAuth = nil }), "pointer-authentication keys, want"},
		"aarch32":          {mutate(func(s *State) { s.Ctx.PSTATE = 0x13 }), "AArch32"},
		"EL2 mode":         {mutate(func(s *State) { s.Ctx.PSTATE = 0x9 }), "not EL0t"},
	}
	for name, c := range cases {
		if _, err := DecodeState(c.b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
}

func FuzzDecodeState(f *testing.F) {
	f.Add(sampleState().Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeState(b)
		if err == nil {
			if _, err := DecodeState(s.Encode()); err != nil {
				t.Fatalf("re-encoding a valid state fails: %v", err)
			}
		}
	})
}
