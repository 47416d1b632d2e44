// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import "testing"

func TestECNames(t *testing.T) {
	cases := map[uint64]string{
		0x5e000000: "SMC (AArch64)",            // smc #0 trapped by TSC
		0x5a000000: "HVC (AArch64)",            // hvc #0
		0x93c08007: "data abort from lower EL", // str w?, ISV=1
		0x96000045: "data abort from EL2",
		0xfc000000: "reserved", // EC 0x3f
	}
	for v, want := range cases {
		if got := ESR(v).ECName(); got != want {
			t.Errorf("ESR %#x: EC name %q, want %q", v, got, want)
		}
	}
}

func TestDecodeDataAbort(t *testing.T) {
	// Linux's pl011 driver writing a byte: strb w1, [x0] -> ISV=1, SAS=0,
	// SRT=1, WnR=1, DFSC=translation fault level 3.
	iss := uint64(1<<24 | 0<<22 | 1<<16 | 1<<6 | 0x07)
	e := ESR(ECDAbortLow<<26 | 1<<25 | iss)
	if e.EC() != ECDAbortLow || !e.IL() {
		t.Fatalf("EC/IL wrong: %v", e)
	}
	d := DecodeDataAbort(e)
	want := DataAbort{Valid: true, Size: 1, Reg: 1, Write: true, FARValid: true, FSC: 0x07}
	if d != want {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
	if d.FSC&^3 != FSCTranslationL0 || d.IsPermissionFault() {
		t.Fatal("fault kind misread")
	}
	// ldrsh x5, [x2]: SAS=1 (halfword), SSE=1, SF=1, SRT=5, read,
	// permission fault level 3.
	iss = 1<<24 | 1<<22 | 1<<21 | 5<<16 | 1<<15 | 0x0f
	d = DecodeDataAbort(ESR(ECDAbortLow<<26 | iss))
	want = DataAbort{Valid: true, Size: 2, SignExt: true, Reg: 5, Reg64: true, FARValid: true, FSC: 0x0f}
	if d != want || !d.IsPermissionFault() {
		t.Fatalf("got %+v\nwant %+v", d, want)
	}
	// FnV set and ISV clear.
	d = DecodeDataAbort(ESR(ECDAbortLow<<26 | 1<<10 | 0x04))
	if d.Valid || d.FARValid {
		t.Fatalf("ISV/FnV misread: %+v", d)
	}
}

func TestDecodeSysReg(t *testing.T) {
	// mrs x3, id_aa64pfr0_el1: op0=3 op1=0 CRn=0 CRm=4 op2=0, read.
	iss := uint64(3<<20 | 0<<17 | 0<<14 | 0<<10 | 3<<5 | 4<<1 | 1)
	a := DecodeSysReg(ESR(ECSysReg<<26 | iss))
	want := SysRegAccess{Op0: 3, CRm: 4, Reg: 3, Read: true}
	if a != want {
		t.Fatalf("got %+v want %+v", a, want)
	}
	// msr mdscr_el1, x9: op0=2 op1=0 CRn=0 CRm=2 op2=2, write.
	iss = 2<<20 | 2<<17 | 9<<5 | 2<<1
	a = DecodeSysReg(ESR(ECSysReg<<26 | iss))
	want = SysRegAccess{Op0: 2, Op2: 2, CRm: 2, Reg: 9}
	if a != want {
		t.Fatalf("got %+v want %+v", a, want)
	}
}

func TestHPFARToIPA(t *testing.T) {
	if got := HPFARToIPA(0x09000<<4, 0xffff000000001234); got != 0x09000234 {
		t.Fatalf("got %#x", got)
	}
}

// A trapped 32-bit instruction is stepped over by 4 bytes, a 16-bit T32
// one (an AArch32 task's, ESR.IL clear) by 2.
func TestAdvance(t *testing.T) {
	c := Context{PC: 0x1000}
	c.Advance(ESR(ECSysReg<<26 | 1<<25))
	if c.PC != 0x1004 {
		t.Fatalf("32-bit: PC %#x", c.PC)
	}
	c.Advance(ESR(ECSysReg << 26))
	if c.PC != 0x1006 {
		t.Fatalf("16-bit: PC %#x", c.PC)
	}
}

// PAR_EL1 after AT gives the output page with va's offset, or no address
// when F is set.
func TestPARToIPA(t *testing.T) {
	if ipa, ok := PARToIPA(0x0b00_0000_4812_3f80, 0xffff80000a0b0c44); !ok || ipa != 0x48123c44 {
		t.Fatalf("translated: %#x %v", ipa, ok)
	}
	if _, ok := PARToIPA(0x809, 0x1000); ok {
		t.Fatal("an aborted translation gave an address")
	}
}
