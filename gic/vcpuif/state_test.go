// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "write testdata/state-v<Version>.bin from the sample")

// sample is an interface in a known, non-trivial state: 4 list registers
// holding an active timer interrupt, an active and re-pended virtual SGI
// and two pending SPIs, two more SPIs queued, the guest's priority mask,
// binary point, Group 1 enable and EOI mode set, and active priorities.
func sample(t testing.TB) (*Fake, *VIF) {
	t.Helper()
	f, v := guestOn(4)
	f.Vmcr |= VMCR_VEOIM | 2<<18
	hw(f, v, 27, 0xa0)
	ack27 := f.GuestAck()
	v.Inject(IRQ{INTID: 1, Priority: 0x90}) // preempts the timer's handler
	if ack27 != 27 || f.GuestAck() != 1 {
		t.Fatal("sample: the guest did not take the SGI and the timer")
	}
	v.Inject(IRQ{INTID: 1, Priority: 0x90})
	for _, id := range []uint32{40, 41, 42, 43} {
		hw(f, v, id, 0xa0+uint8(id-40)*0x10)
	}
	f.Ap1r[0] = 1<<(0x90>>3) | 1<<(0xa0>>3)
	if v.Pending() != 2 {
		t.Fatalf("sample: %d queued, want 2", v.Pending())
	}
	return f, v
}

// What one interface captures, another restores: the guest then sees the
// same interrupts, in the same order, and ends each physical one.
func TestCaptureRestore(t *testing.T) {
	for _, n := range []int{4, 2, 16} {
		src, sv := sample(t)
		s := sv.Capture()
		dst := NewFake(n)
		dst.Hcr = HCR_En
		dst.PhysActive = src.PhysActive
		dv := New(dst)
		if err := dv.Restore(s); err != nil {
			t.Fatalf("%d list registers: %v", n, err)
		}
		if err := s.CheckPhysical(func(id uint32) bool { return dst.PhysActive[id] }); err != nil {
			t.Fatal(err)
		}
		if dst.Vmcr != src.Vmcr || dst.Ap1r != src.Ap1r {
			t.Errorf("%d LRs: VMCR %#x AP1R %#x, want %#x %#x", n, dst.Vmcr, dst.Ap1r, src.Vmcr, src.Ap1r)
		}
		// Both guests end their active interrupts and take the rest.
		for _, f := range []*Fake{src, dst} {
			f.GuestEOI(27)
			f.GuestEOI(1)
		}
		want, got := handle(t, src, sv), handle(t, dst, dv)
		if !slices.Equal(got, want) {
			t.Errorf("%d LRs: the restored guest took %v, the source's %v", n, got, want)
		}
		for id, a := range dst.PhysActive {
			if a {
				t.Errorf("%d LRs: INTID %d left active", n, id)
			}
		}
	}
}

func TestRestoreRefusesWhatDoesNotFit(t *testing.T) {
	_, sv := sample(t)
	s := sv.Capture()
	dst := NewFake(1) // two active entries, one list register
	if err := New(dst).Restore(s); err == nil || !strings.Contains(err.Error(), "LRs") {
		t.Fatalf("err = %v", err)
	}
	dst = NewFake(4)
	dst.PREbits = 7 // four APRs against the source's one
	err := New(dst).Restore(s)
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Field != "AP0R/AP1R[0]" {
		t.Fatalf("err = %v", err)
	}
	if dst.Accesses != 1 { // VTR only
		t.Errorf("a refused restore made %d register accesses", dst.Accesses)
	}
}

func TestCheckPhysical(t *testing.T) {
	_, sv := sample(t)
	s := sv.Capture()
	err := s.CheckPhysical(func(id uint32) bool { return id != 43 })
	var fe *FieldError
	if !errors.As(err, &fe) || !strings.HasPrefix(fe.Field, "Queue[") {
		t.Fatalf("err = %v, want the queued INTID 43", err)
	}
}

// The encoding of the sample is the golden file; every version from
// Oldest still decodes.
func TestGolden(t *testing.T) {
	_, v := sample(t)
	cur := v.Capture().Encode()
	file := filepath.Join("testdata", "state-v1.bin")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(file, cur, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, cur) {
		t.Fatalf("%s: the current code encodes the sample differently: bump Version (and keep reading this one) or run -update", file)
	}
	s, err := Decode(1, data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(s.Encode(), data) {
		t.Error("decode/encode does not round-trip")
	}
}

func TestDecodeRefuses(t *testing.T) {
	_, v := sample(t)
	good := v.Capture()
	mod := func(f func(s *State)) []byte {
		s := *good
		s.Queue = slices.Clone(good.Queue)
		f(&s)
		return s.Encode()
	}
	hwLR := LR{VINTID: 50, PINTID: 50, HW: true, Group1: true, Priority: 0xa0, State: Pending}
	for _, tc := range []struct {
		name, field string
		b           []byte
		want        error
	}{
		{"version", "", good.Encode(), ErrVersion},
		{"too large", "", make([]byte, MaxEncodedSize+1), ErrTooLarge},
		{"short", "", good.Encode()[:20], nil},
		{"trailing", "", append(good.Encode(), 0), nil},
		{"NumLRs 0", "NumLRs", []byte{0}, nil},
		{"NumLRs 17", "NumLRs", append([]byte{17}, make([]byte, 200)...), nil},
		{"NumAPR 3", "NumAPR", mod(func(s *State) { s.NumAPR = 3 }), nil},
		{"free LR not zero", "LRs[3]", mod(func(s *State) { s.LRs[3] = LR_Priority }), nil},
		{"LR RES0", "LRs[0]", mod(func(s *State) { s.LRs[0] |= 1 << 58 }), nil},
		{"LR INTID 1020", "LRs[0]", mod(func(s *State) { s.LRs[0] = s.LRs[0]&^LR_vINTID | 1020 }), nil},
		{"LR Group 0", "LRs[0]", mod(func(s *State) { s.LRs[0] &^= LR_Group }), nil},
		{"LR EOI", "LRs[0]", mod(func(s *State) { s.LRs[0] = LR{VINTID: 2, Group1: true, State: Pending, EOI: true}.Encode() }), nil},
		{"HW SGI", "LRs[0]", mod(func(s *State) { s.LRs[0] = LR{VINTID: 2, PINTID: 2, HW: true, Group1: true, State: Pending}.Encode() }), nil},
		{"HW other pINTID", "LRs[0]", mod(func(s *State) { l := hwLR; l.PINTID = 51; s.LRs[0] = l.Encode() }), nil},
		{"HW pending and active", "LRs[0]", mod(func(s *State) { l := hwLR; l.State = PendingActive; s.LRs[0] = l.Encode() }), nil},
		{"INTID twice", "LRs[1]", mod(func(s *State) { s.LRs[1] = s.LRs[0] }), nil},
		{"queued twice", "Queue[1]", mod(func(s *State) { s.Queue[1] = s.Queue[0] }), nil},
		{"queued and listed", "Queue[0]", mod(func(s *State) { s.Queue[0] = s.LRs[2] }), nil},
		{"queue order", "Queue[1]", mod(func(s *State) { s.Queue[0], s.Queue[1] = s.Queue[1], s.Queue[0] }), nil},
		{"queued active", "Queue[0]", mod(func(s *State) { s.Queue[0] |= LR_State }), nil},
		{"queue too long", "Queue", mod(func(s *State) { s.Queue = make([]uint64, maxQueue+1) }), nil},
		{"VMCR", "VMCR", mod(func(s *State) { s.VMCR |= 1 << 5 }), nil},
		{"HCR", "HCR", mod(func(s *State) { s.HCR |= HCR_TALL1 }), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			version := uint16(Version)
			if tc.want == ErrVersion {
				version = Version + 1
			}
			_, err := Decode(version, tc.b)
			if err == nil {
				t.Fatal("accepted")
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
			var fe *FieldError
			if tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field) {
				t.Fatalf("err = %v, want a FieldError on %s", err, tc.field)
			}
		})
	}
}

// What the wire cannot carry, Validate still refuses (a State built in
// memory, given to Restore).
func TestValidateAPRBeyond(t *testing.T) {
	_, v := sample(t)
	s := v.Capture()
	s.AP1R[1] = 1
	var fe *FieldError
	if err := s.Validate(); !errors.As(err, &fe) || fe.Field != "AP0R/AP1R[1]" {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecode(f *testing.F) {
	_, v := guestOn(4)
	f.Add(v.Capture().Encode())
	_, v = sample(f)
	f.Add(v.Capture().Encode())
	if b, err := os.ReadFile(filepath.Join("testdata", "state-v1.bin")); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(Version, b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatal("accepted input does not re-encode to itself")
		}
		// Whatever decodes loads into an interface with as many list
		// registers, and reads back as what it was, up to where the
		// entries sit.
		dst := NewFake(int(s.NumLRs))
		dst.PREbits = map[uint8]int{1: 5, 2: 6, 4: 7}[s.NumAPR]
		dv := New(dst)
		if err := dv.Restore(s); err != nil {
			t.Fatalf("decoded state refused: %v", err)
		}
		back := dv.Capture()
		if back.VMCR != s.VMCR || back.AP0R != s.AP0R || back.AP1R != s.AP1R || back.HCR != s.HCR {
			t.Fatal("registers differ after restore")
		}
		entries := func(s *State) int { return len(s.Queue) + int(s.NumLRs) - countZero(s.LRs[:s.NumLRs]) }
		if entries(back) != entries(s) {
			t.Fatalf("%d entries restored, %d decoded", entries(back), entries(s))
		}
	})
}

func countZero(v []uint64) int {
	n := 0
	for _, x := range v {
		if x == 0 {
			n++
		}
	}
	return n
}
