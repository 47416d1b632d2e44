// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hostile

import (
	"encoding/binary"
	"fmt"
)

// A tiny A64 assembler: just the instructions the hostile kernel uses,
// each encoded by hand (Arm ARM, C6.2, each instruction's "Encoding"
// box) and recorded with its text as GNU objdump prints it, so the host
// test can hold every word against a real disassembler's reading
// (testdata/hostile.objdump). Registers are numbers: 0-30, and 31 is the
// zero register (xzr/wzr) or SP as the instruction defines it.

// asm accumulates the program: instruction words, then data.
type asm struct {
	buf    []byte
	text   map[int]string // byte offset -> assembly, for instruction words
	labels map[string]int
	fixups []fixup
	err    error
}

// fixup is a PC-relative field to fill in once label is placed.
type fixup struct {
	at    int // the instruction's offset
	label string
	kind  fixKind
	text  string // the assembly with %#x for the target's address
}

type fixKind uint8

const (
	fixImm26 fixKind = iota // B, BL: imm26 at [25:0], words
	fixImm19                // B.cond, CBZ/CBNZ: imm19 at [23:5], words
	fixImm14                // TBZ/TBNZ: imm14 at [18:5], words
	fixADR                  // ADR: immlo [30:29], immhi [23:5], bytes
)

func newAsm() *asm { return &asm{text: map[int]string{}, labels: map[string]int{}} }

func (a *asm) fail(format string, args ...any) {
	if a.err == nil {
		a.err = fmt.Errorf(format, args...)
	}
}

// pc is the offset of the next word.
func (a *asm) pc() int { return len(a.buf) }

func (a *asm) emit(w uint32, text string) {
	if len(a.buf)%4 != 0 {
		a.fail("instruction %q at unaligned offset %#x", text, len(a.buf))
	}
	a.text[len(a.buf)] = text
	a.buf = binary.LittleEndian.AppendUint32(a.buf, w)
}

// label places name at the current offset.
func (a *asm) label(name string) {
	if _, ok := a.labels[name]; ok {
		a.fail("label %s placed twice", name)
	}
	a.labels[name] = a.pc()
}

// align pads with zero bytes to a multiple of n.
func (a *asm) align(n int) {
	for len(a.buf)%n != 0 {
		a.buf = append(a.buf, 0)
	}
}

// bytes appends data (never disassembled).
func (a *asm) bytes(b []byte) { a.buf = append(a.buf, b...) }

// finish fills in the PC-relative fields and returns the program and the
// text of each instruction word by offset.
func (a *asm) finish() ([]byte, map[int]string, error) {
	for _, f := range a.fixups {
		to, ok := a.labels[f.label]
		if !ok {
			a.fail("no label %s", f.label)
			continue
		}
		off := to - f.at
		w := binary.LittleEndian.Uint32(a.buf[f.at:])
		switch f.kind {
		case fixImm26:
			w |= field(a, off/4, 26, f.label) << 0
		case fixImm19:
			w |= field(a, off/4, 19, f.label) << 5
		case fixImm14:
			w |= field(a, off/4, 14, f.label) << 5
		case fixADR:
			v := field(a, off, 21, f.label)
			w |= (v&3)<<29 | (v>>2)<<5
		}
		binary.LittleEndian.PutUint32(a.buf[f.at:], w)
		a.text[f.at] = fmt.Sprintf(f.text, to)
	}
	return a.buf, a.text, a.err
}

// field is v as an n-bit two's complement field; a v out of range fails.
func field(a *asm, v, n int, label string) uint32 {
	if v < -(1<<(n-1)) || v >= 1<<(n-1) {
		a.fail("%s: offset %d does not fit %d bits", label, v, n)
	}
	return uint32(v) & (1<<n - 1)
}

func (a *asm) branchTo(w uint32, kind fixKind, label, text string) {
	a.fixups = append(a.fixups, fixup{at: a.pc(), label: label, kind: kind, text: text})
	a.emit(w, text)
}

// Register names.
func x(r int) string {
	if r == 31 {
		return "xzr"
	}
	return fmt.Sprintf("x%d", r)
}

func w(r int) string {
	if r == 31 {
		return "wzr"
	}
	return fmt.Sprintf("w%d", r)
}

func reg(r int) uint32 {
	return uint32(r & 31)
}

// Conditions (C1.2.4), with objdump's names.
type cond uint32

const (
	eq cond = 0x0
	ne cond = 0x1
	lo cond = 0x3 // objdump: cc
	hs cond = 0x2 // objdump: cs
)

var condNames = map[cond]string{eq: "eq", ne: "ne", lo: "cc", hs: "cs"}

// Branches.

// b: B label (C6.2.26).
func (a *asm) b(label string) { a.branchTo(0x14000000, fixImm26, label, "b %#x") }

// bl: BL label (C6.2.35).
func (a *asm) bl(label string) { a.branchTo(0x94000000, fixImm26, label, "bl %#x") }

// bcond: B.<cond> label (C6.2.27).
func (a *asm) bcond(c cond, label string) {
	a.branchTo(0x54000000|uint32(c), fixImm19, label, "b."+condNames[c]+" %#x")
}

// cbz, cbnz: CBZ/CBNZ Xt, label (C6.2.48, C6.2.47).
func (a *asm) cbz(rt int, label string) {
	a.branchTo(0xb4000000|reg(rt), fixImm19, label, "cbz "+x(rt)+", %#x")
}

func (a *asm) cbnz(rt int, label string) {
	a.branchTo(0xb5000000|reg(rt), fixImm19, label, "cbnz "+x(rt)+", %#x")
}

// tbz, tbnz: TBZ/TBNZ Wt, #bit, label (C6.2.377, C6.2.376), bit < 32.
func (a *asm) tbz(rt, bit int, label string) {
	a.branchTo(0x36000000|uint32(bit&31)<<19|reg(rt), fixImm14, label, fmt.Sprintf("tbz %s, #%d, %%#x", w(rt), bit))
}

func (a *asm) tbnz(rt, bit int, label string) {
	a.branchTo(0x37000000|uint32(bit&31)<<19|reg(rt), fixImm14, label, fmt.Sprintf("tbnz %s, #%d, %%#x", w(rt), bit))
}

// ret: RET (x30) (C6.2.254).
func (a *asm) ret() { a.emit(0xd65f03c0, "ret") }

// eret: ERET (C6.2.83).
func (a *asm) eret() { a.emit(0xd69f03e0, "eret") }

// adr: ADR Xd, label (C6.2.10).
func (a *asm) adr(rd int, label string) {
	a.branchTo(0x10000000|reg(rd), fixADR, label, "adr "+x(rd)+", %#x")
}

// Moves and arithmetic, 64-bit unless named w.

// movz: MOVZ Xd, #imm16, LSL #shift (C6.2.226); objdump shows MOV with
// the shifted value.
func (a *asm) movz(rd int, imm uint16, shift int) {
	a.emit(0xd2800000|uint32(shift/16)<<21|uint32(imm)<<5|reg(rd), fmt.Sprintf("mov %s, #%#x", x(rd), uint64(imm)<<shift))
}

// movzw: MOVZ Wd, #imm16, LSL #shift (32-bit).
func (a *asm) movzw(rd int, imm uint16, shift int) {
	a.emit(0x52800000|uint32(shift/16)<<21|uint32(imm)<<5|reg(rd), fmt.Sprintf("mov %s, #%#x", w(rd), uint64(imm)<<shift))
}

// movk: MOVK Xd, #imm16, LSL #shift (C6.2.225).
func (a *asm) movk(rd int, imm uint16, shift int) {
	t := fmt.Sprintf("movk %s, #%#x", x(rd), imm)
	if shift != 0 {
		t += fmt.Sprintf(", lsl #%d", shift)
	}
	a.emit(0xf2800000|uint32(shift/16)<<21|uint32(imm)<<5|reg(rd), t)
}

// mov64 loads any 64-bit value: MOVZ with its lowest non-zero halfword,
// a MOVK for each other non-zero one.
func (a *asm) mov64(rd int, v uint64) {
	first := true
	for sh := 0; sh < 64; sh += 16 {
		h := uint16(v >> sh)
		switch {
		case h == 0:
		case first:
			a.movz(rd, h, sh)
			first = false
		default:
			a.movk(rd, h, sh)
		}
	}
	if first {
		a.movz(rd, 0, 0)
	}
}

// mov: MOV Xd, Xm (ORR Xd, XZR, Xm, C6.2.220).
func (a *asm) mov(rd, rm int) {
	a.emit(0xaa0003e0|reg(rm)<<16|reg(rd), "mov "+x(rd)+", "+x(rm))
}

// addi, subi: ADD/SUB Xd, Xn, #imm12 (C6.2.4, C6.2.358).
func (a *asm) addi(rd, rn int, imm uint32) {
	a.emit(0x91000000|(imm&0xfff)<<10|reg(rn)<<5|reg(rd), fmt.Sprintf("add %s, %s, #%#x", x(rd), x(rn), imm))
}

func (a *asm) subi(rd, rn int, imm uint32) {
	a.emit(0xd1000000|(imm&0xfff)<<10|reg(rn)<<5|reg(rd), fmt.Sprintf("sub %s, %s, #%#x", x(rd), x(rn), imm))
}

// add: ADD Xd, Xn, Xm{, LSL #sh} (shifted register, C6.2.5).
func (a *asm) add(rd, rn, rm, lsl int) {
	t := fmt.Sprintf("add %s, %s, %s", x(rd), x(rn), x(rm))
	if lsl != 0 {
		t += fmt.Sprintf(", lsl #%d", lsl)
	}
	a.emit(0x8b000000|reg(rm)<<16|uint32(lsl&63)<<10|reg(rn)<<5|reg(rd), t)
}

// cmpi: CMP Xn, #imm12 (SUBS XZR, C6.2.68); cmpiw the 32-bit form.
func (a *asm) cmpi(rn int, imm uint32) {
	a.emit(0xf100001f|(imm&0xfff)<<10|reg(rn)<<5, fmt.Sprintf("cmp %s, #%#x", x(rn), imm))
}

func (a *asm) cmpiw(rn int, imm uint32) {
	a.emit(0x7100001f|(imm&0xfff)<<10|reg(rn)<<5, fmt.Sprintf("cmp %s, #%#x", w(rn), imm))
}

// cmp: CMP Xn, Xm (SUBS XZR, shifted register, C6.2.69).
func (a *asm) cmp(rn, rm int) {
	a.emit(0xeb00001f|reg(rm)<<16|reg(rn)<<5, "cmp "+x(rn)+", "+x(rm))
}

// lsri: LSR Xd, Xn, #sh (UBFM Xd, Xn, #sh, #63, C6.2.216).
func (a *asm) lsri(rd, rn, sh int) {
	a.emit(0xd340fc00|uint32(sh&63)<<16|reg(rn)<<5|reg(rd), fmt.Sprintf("lsr %s, %s, #%d", x(rd), x(rn), sh))
}

// lsli: LSL Xd, Xn, #sh (UBFM Xd, Xn, #(-sh mod 64), #(63-sh), C6.2.213).
func (a *asm) lsli(rd, rn, sh int) {
	a.emit(0xd3400000|uint32((64-sh)&63)<<16|uint32(63-sh)<<10|reg(rn)<<5|reg(rd), fmt.Sprintf("lsl %s, %s, #%d", x(rd), x(rn), sh))
}

// lsr: LSR Xd, Xn, Xm (LSRV, C6.2.218).
func (a *asm) lsr(rd, rn, rm int) {
	a.emit(0x9ac02400|reg(rm)<<16|reg(rn)<<5|reg(rd), "lsr "+x(rd)+", "+x(rn)+", "+x(rm))
}

// andLow: AND Xd, Xn, #(1<<n - 1), the low n bits (logical immediate,
// C6.2.12: N = 1, immr = 0, imms = n-1), 0 < n < 64.
func (a *asm) andLow(rd, rn, n int) {
	a.emit(0x92400000|uint32(n-1)<<10|reg(rn)<<5|reg(rd), fmt.Sprintf("and %s, %s, #%#x", x(rd), x(rn), uint64(1)<<n-1))
}

// bicw: AND Wd, Wn, #^mask, mask one bit (logical immediate, C6.2.12:
// N = 0, imms = 30 for a run of 31 ones, 0x7fffffff, rotated right by
// immr = 31 - bit to put its zero at the bit); objdump shows ^mask.
func (a *asm) bicw(rd, rn int, mask uint32) {
	bit := 0
	for mask>>bit != 1 {
		bit++
	}
	immr := uint32(31 - bit)
	a.emit(0x12000000|immr<<16|30<<10|reg(rn)<<5|reg(rd), fmt.Sprintf("and %s, %s, #%#x", w(rd), w(rn), ^mask))
}

// orrw: ORR Wd, Wn, Wm (shifted register, C6.2.220).
func (a *asm) orrw(rd, rn, rm int) {
	a.emit(0x2a000000|reg(rm)<<16|reg(rn)<<5|reg(rd), "orr "+w(rd)+", "+w(rn)+", "+w(rm))
}

// udiv: UDIV Xd, Xn, Xm (C6.2.388).
func (a *asm) udiv(rd, rn, rm int) {
	a.emit(0x9ac00800|reg(rm)<<16|reg(rn)<<5|reg(rd), "udiv "+x(rd)+", "+x(rn)+", "+x(rm))
}

// msub: MSUB Xd, Xn, Xm, Xa: Xd = Xa - Xn*Xm (C6.2.229).
func (a *asm) msub(rd, rn, rm, ra int) {
	a.emit(0x9b008000|reg(rm)<<16|reg(ra)<<10|reg(rn)<<5|reg(rd), "msub "+x(rd)+", "+x(rn)+", "+x(rm)+", "+x(ra))
}

// uxtb: UXTB Wd, Wn (UBFM Wd, Wn, #0, #7, C6.2.392).
func (a *asm) uxtb(rd, rn int) {
	a.emit(0x53001c00|reg(rn)<<5|reg(rd), "uxtb "+w(rd)+", "+w(rn))
}

// Loads and stores (unsigned offset unless said).

// ldrw, strw: LDR/STR Wt, [Xn, #off], off a multiple of 4 below 16 KiB
// (C6.2.166, C6.2.339).
func (a *asm) ldrw(rt, rn int, off uint32) {
	a.emit(0xb9400000|(off/4&0xfff)<<10|reg(rn)<<5|reg(rt), memText("ldr", w(rt), rn, off))
}

func (a *asm) strw(rt, rn int, off uint32) {
	a.emit(0xb9000000|(off/4&0xfff)<<10|reg(rn)<<5|reg(rt), memText("str", w(rt), rn, off))
}

// strb: STRB Wt, [Xn, #off] (C6.2.341).
func (a *asm) strb(rt, rn int, off uint32) {
	a.emit(0x39000000|(off&0xfff)<<10|reg(rn)<<5|reg(rt), memText("strb", w(rt), rn, off))
}

// ldrbPost: LDRB Wt, [Xn], #1 (post-index, C6.2.168).
func (a *asm) ldrbPost(rt, rn int) {
	a.emit(0x38401400|reg(rn)<<5|reg(rt), "ldrb "+w(rt)+", ["+x(rn)+"], #1")
}

func memText(op, rt string, rn int, off uint32) string {
	base := x(rn)
	if rn == 31 {
		base = "sp"
	}
	if off == 0 {
		return fmt.Sprintf("%s %s, [%s]", op, rt, base)
	}
	return fmt.Sprintf("%s %s, [%s, #%d]", op, rt, base, off)
}

// System registers and barriers.

// sysreg is a system register's encoding (op0, op1, CRn, CRm, op2) and
// its name as objdump prints it.
type sysreg struct {
	op0, op1, crn, crm, op2 uint32
	name                    string
}

func (s sysreg) enc() uint32 {
	return (s.op0&1)<<19 | s.op1<<16 | s.crn<<12 | s.crm<<8 | s.op2<<5
}

// mrs: MRS Xt, <reg> (C6.2.227); msr: MSR <reg>, Xt (C6.2.229).
func (a *asm) mrs(rt int, s sysreg) {
	a.emit(0xd5300000|s.enc()|reg(rt), "mrs "+x(rt)+", "+s.name)
}

func (a *asm) msr(s sysreg, rt int) {
	a.emit(0xd5100000|s.enc()|reg(rt), "msr "+s.name+", "+x(rt))
}

// msrDAIFClr: MSR DAIFClr, #imm (C6.2.230, C5.2.3): unmask.
func (a *asm) msrDAIFClr(imm uint32) {
	a.emit(0xd50340ff|(imm&15)<<8, fmt.Sprintf("msr daifclr, #%#x", imm))
}

// isb: ISB (C6.2.129); dsbSY: DSB SY (C6.2.80).
func (a *asm) isb()   { a.emit(0xd5033fdf, "isb") }
func (a *asm) dsbSY() { a.emit(0xd5033f9f, "dsb sy") }
