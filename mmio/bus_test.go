// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmio

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/cpu"
)

// abort builds an ESR_EL2 for a data abort from EL1 with a valid syndrome
// (ARM ARM D23.2 ESR_EL2, ISS for a Data Abort): translation fault, level 3.
func abort(size int, write, sse, sf bool, reg int) cpu.ESR {
	sas := map[int]uint64{1: 0, 2: 1, 4: 2, 8: 3}[size]
	v := uint64(cpu.ECDAbortLow)<<26 | 1<<25 | 1<<24 | sas<<22 | uint64(reg)<<16 | 0x07
	if sse {
		v |= 1 << 21
	}
	if sf {
		v |= 1 << 15
	}
	if write {
		v |= 1 << 6
	}
	return cpu.ESR(v)
}

const (
	devBase = 0x0900_0000
	devSize = 0x1000
	pc      = 0xffff_8000_1234_5678
)

func newBus(t *testing.T) (*Bus, *Fake) {
	t.Helper()
	f := NewFake(devSize)
	// 0x10: 80 01 80 00 00 00 00 80 (LE): byte 0x80, half 0x0180, word 0x00800180 ...
	copy(f.Mem[0x10:], []byte{0x80, 0x01, 0x80, 0x00, 0x00, 0x00, 0x00, 0x80})
	copy(f.Mem[0x20:], []byte{0x7f, 0x80, 0x00, 0x80, 0x00, 0x00, 0x00, 0x00})
	var b Bus
	if err := b.Add(devBase, devSize, f); err != nil {
		t.Fatal(err)
	}
	return &b, f
}

func TestLoads(t *testing.T) {
	const junk = 0xdead_beef_dead_beef
	cases := []struct {
		name string
		off  uint64
		size int
		sse  bool
		sf   bool
		want uint64
	}{
		{"ldrb w", 0x10, 1, false, false, 0x80},
		{"ldrh w", 0x10, 2, false, false, 0x0180},
		{"ldr w", 0x10, 4, false, false, 0x0080_0180},
		{"ldr x", 0x10, 8, false, true, 0x8000_0000_0080_0180},
		{"ldrsb w (negative)", 0x10, 1, true, false, 0xffff_ff80},
		{"ldrsb x (negative)", 0x10, 1, true, true, 0xffff_ffff_ffff_ff80},
		{"ldrsb w (positive)", 0x20, 1, true, false, 0x7f},
		{"ldrsb x (positive)", 0x20, 1, true, true, 0x7f},
		{"ldrsh w (negative)", 0x20, 2, true, false, 0xffff_807f},
		{"ldrsh x (negative)", 0x20, 2, true, true, 0xffff_ffff_ffff_807f},
		{"ldrsh w (positive)", 0x10, 2, true, false, 0x0180},
		{"ldrsw x (negative)", 0x20, 4, true, true, 0xffff_ffff_8000_807f},
		{"ldrsw x (positive)", 0x10, 4, true, true, 0x0080_0180},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, _ := newBus(t)
			var c cpu.Context
			for i := range c.X {
				c.X[i] = junk
			}
			c.PC = pc
			ok, err := b.Handle(&c, abort(tc.size, false, tc.sse, tc.sf, 3), devBase+tc.off)
			if !ok || err != nil {
				t.Fatalf("Handle = %v, %v", ok, err)
			}
			if c.X[3] != tc.want {
				t.Errorf("x3 = %#x, want %#x", c.X[3], tc.want)
			}
			if c.X[2] != junk || c.X[4] != junk {
				t.Error("another register changed")
			}
			if c.PC != pc+4 {
				t.Errorf("PC = %#x, want %#x", c.PC, uint64(pc+4))
			}
		})
	}
}

func TestLoadMasksDeviceValue(t *testing.T) {
	// A device returning more than the access size: the load sees only size bytes.
	var b Bus
	f := NewFake(8)
	f.OnRead = func(uint64, int) (uint64, bool) { return 0x1234_5678_9abc_def0, true }
	if err := b.Add(0x1000, 8, f); err != nil {
		t.Fatal(err)
	}
	var c cpu.Context
	if _, err := b.Handle(&c, abort(2, false, false, false, 0), 0x1000); err != nil {
		t.Fatal(err)
	}
	if c.X[0] != 0xdef0 {
		t.Fatalf("x0 = %#x", c.X[0])
	}
}

func TestLoadToXZR(t *testing.T) {
	b, f := newBus(t)
	var c cpu.Context
	c.PC = pc
	ok, err := b.Handle(&c, abort(4, false, false, false, 31), devBase+0x10)
	if !ok || err != nil {
		t.Fatalf("Handle = %v, %v", ok, err)
	}
	if c.X != ([31]uint64{}) {
		t.Fatal("a load to XZR changed a register")
	}
	if len(f.Ops) != 1 || f.Ops[0].Write || f.Ops[0].Off != 0x10 || f.Ops[0].Size != 4 {
		t.Fatalf("device saw %v, want one 4-byte read at 0x10 (reads can have side effects)", f.Ops)
	}
	if c.PC != pc+4 {
		t.Fatal("PC not advanced")
	}
}

func TestStores(t *testing.T) {
	const x = 0x1122_3344_5566_7788
	cases := []struct {
		name string
		size int
		sf   bool
		reg  int
		want uint64
	}{
		{"strb w", 1, false, 7, 0x88},
		{"strh w", 2, false, 7, 0x7788},
		{"str w", 4, false, 7, 0x5566_7788},
		{"str x", 8, true, 7, x},
		{"str wzr", 4, false, 31, 0},
		{"str xzr", 8, true, 31, 0},
		{"strb wzr", 1, false, 31, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, f := newBus(t)
			var c cpu.Context
			for i := range c.X {
				c.X[i] = x
			}
			c.PC = pc
			ok, err := b.Handle(&c, abort(tc.size, true, false, tc.sf, tc.reg), devBase+0x40)
			if !ok || err != nil {
				t.Fatalf("Handle = %v, %v", ok, err)
			}
			w := f.Writes()
			if len(w) != 1 || w[0] != (Op{true, 0x40, tc.size, tc.want}) {
				t.Fatalf("device saw %v, want W%d 0x40=%#x", w, tc.size, tc.want)
			}
			if c.X[7] != x || c.PC != pc+4 {
				t.Fatalf("x7 %#x PC %#x: a store changed a register or the PC is wrong", c.X[7], c.PC)
			}
		})
	}
}

func TestNotOnBus(t *testing.T) {
	b, f := newBus(t)
	for _, ipa := range []uint64{devBase - 1, devBase + devSize, 0, ^uint64(0)} {
		c := cpu.Context{PC: pc}
		ok, err := b.Handle(&c, abort(4, false, false, false, 1), ipa)
		if ok || err != nil || c.PC != pc || len(f.Ops) != 0 {
			t.Fatalf("IPA %#x: Handle = %v, %v, PC %#x, ops %v: want not handled and nothing touched", ipa, ok, err, c.PC, f.Ops)
		}
	}
	// The region's first and last bytes are on it.
	for _, ipa := range []uint64{devBase, devBase + devSize - 1} {
		c := cpu.Context{}
		if ok, err := b.Handle(&c, abort(1, false, false, false, 1), ipa); !ok || err != nil {
			t.Fatalf("IPA %#x: Handle = %v, %v", ipa, ok, err)
		}
	}
}

func TestCannotEmulate(t *testing.T) {
	valid := uint64(abort(4, false, false, false, 1))
	cases := []struct {
		name string
		esr  uint64
		want string
	}{
		{"ISV=0 (ldp/stp, writeback)", uint64(cpu.ECDAbortLow)<<26 | 1<<25 | 0x07, "ISV = 0"},
		{"stage-1 walk", valid | 1<<7, "stage-1 table walk"},
		{"FnV", valid | 1<<10, "FnV = 1"},
		{"not a data abort", uint64(cpu.ECIAbortLow)<<26 | valid&0x1ffffff, "not a data abort"},
		{"8 bytes into W", uint64(abort(8, false, false, false, 1)), "32-bit register"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b, f := newBus(t)
			c := cpu.Context{PC: pc}
			c.X[1] = 42
			ok, err := b.Handle(&c, cpu.ESR(tc.esr), devBase+0x18)
			var ae *AbortError
			if !ok || !errors.As(err, &ae) {
				t.Fatalf("Handle = %v, %v: want handled with an *AbortError", ok, err)
			}
			msg := err.Error()
			for _, s := range []string{tc.want, "0x9000018", "0xffff800012345678"} {
				if !strings.Contains(msg, s) {
					t.Errorf("error %q does not mention %q", msg, s)
				}
			}
			if c.PC != pc || c.X[1] != 42 || len(f.Ops) != 0 {
				t.Fatal("a refused access changed the guest or touched the device")
			}
		})
	}
}

func TestAdd(t *testing.T) {
	var b Bus
	d := NewFake(0)
	for _, r := range [][2]uint64{{0x2000, 0x1000}, {0x1000, 0x1000}, {0x4000, 0x8}, {0x3000, 0x1000}} {
		if err := b.Add(r[0], r[1], d); err != nil {
			t.Fatalf("add %#x+%#x: %v", r[0], r[1], err)
		}
	}
	bad := []struct {
		base, size uint64
		dev        Device
		want       string
	}{
		{0x1800, 0x1000, d, "overlaps [0x1000+0x1000]"},
		{0x0800, 0x1000, d, "overlaps [0x1000+0x1000]"},
		{0x2000, 0x8, d, "overlaps [0x2000+0x1000]"},
		{0x0, 0x10000, d, "overlaps"},
		{0x4000, 0x8, d, "overlaps [0x4000+0x8]"},
		{0x5000, 0, d, "empty"},
		{0x5004, 0x8, d, "aligned"},
		{0x5000, 0x8, nil, "nil device"},
		{^uint64(0) - 7, 0x10, d, "wraps"},
	}
	for _, tc := range bad {
		if err := b.Add(tc.base, tc.size, tc.dev); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("add %#x+%#x: %v, want an error with %q", tc.base, tc.size, err, tc.want)
		}
	}
	for ipa, want := range map[uint64]uint64{0x1000: 0, 0x1fff: 0xfff, 0x2000: 0, 0x4007: 7} {
		if _, off, ok := b.Lookup(ipa); !ok || off != want {
			t.Errorf("Lookup(%#x) = %#x, %v", ipa, off, ok)
		}
	}
	for _, ipa := range []uint64{0xfff, 0x4008, 0x5000} {
		if _, _, ok := b.Lookup(ipa); ok {
			t.Errorf("Lookup(%#x) found a device", ipa)
		}
	}
}
