// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package hostile builds the hostile guest kernel: a few hundred bytes of
// EL1 code in an arm64 Linux Image (Documentation/arch/arm64/booting.rst),
// which Ferry boots as it boots Linux, for the system tests that show what
// a guest at EL1 cannot do to Ferry through the GIC's CPU interface. It is
// written for QEMU's virt board (the PL011 at 0x0900_0000, the GICv3
// redistributor at 0x080A_0000) and reads no DTB.
//
// The program is encoded here, instruction by instruction (asm.go), so no
// cross-assembler is needed to build or test it; the host test holds every
// word against GNU objdump's reading, kept in testdata/hostile.objdump.
//
// At entry (EL1, MMU off, interrupts masked) it points VBAR_EL1 at its
// vectors, turns on the system-register interface of its CPU interface
// (ICC_SRE_EL1), opens its priority mask (ICC_PMR_EL1 = 0xff) and
// enables Group 1 (ICC_IGRPEN1_EL1), prints
//
//	FERRY-HOSTILE start el=1
//
// and then, every half second of its virtual counter (CNTVCT_EL0), forever,
//
//	FERRY-HOSTILE n=<n> rpr=<ICC_RPR_EL1> irqs=<interrupts taken>
//
// with n = 1, 2, 3, ... (decimal; an idle CPU interface's running
// priority reads 255). After each line it reads one character from the
// UART, if there is one, and obeys it:
//
//   - 'a': it raises its running priority to the top: ICC_AP1R0_EL1 = 1
//     (priority 0 active), and prints "FERRY-HOSTILE ap1r0 written rpr=0".
//   - 'b': it clears ICC_AP1R0_EL1 again, gives its virtual timer's PPI
//     (INTID 27) priority 0 in Group 1 and enables it (in the
//     redistributor's SGI_base frame: GICR_IGROUPR0, GICR_IPRIORITYR,
//     GICR_ISENABLER0), fires the timer at once (CNTV_TVAL_EL0 = 0,
//     CNTV_CTL_EL0 = ENABLE) and unmasks IRQs. Its IRQ vector acknowledges
//     the interrupt (ICC_IAR1_EL1) and returns: it never writes
//     ICC_EOIR1_EL1 or ICC_DIR_EL1, and leaves the timer firing and IRQs
//     unmasked, so the interrupt stays active at priority 0 for good. It
//     prints "FERRY-HOSTILE acked intid=27 rpr=0", or
//     "FERRY-HOSTILE BAD no interrupt" when none came within two seconds.
//
// Any other exception prints "FERRY-HOSTILE BAD exception vector=<offset>
// esr=<ESR_EL1> elr=<ELR_EL1>" (hexadecimal) and stops the guest in a loop.
//
// The program keeps everything in registers: it writes no memory, so a
// live migration copies its RAM once.
package hostile

import (
	"encoding/binary"
	"fmt"

	"github.com/ferry-hv/ferry/boot/guest"
)

// QEMU virt's devices the program drives (hw/arm/virt.c, base_memmap).
const (
	uartBase   = 0x0900_0000 // the PL011
	gicdBase   = 0x0800_0000 // the distributor
	gicrBase   = 0x080a_0000 // the first redistributor's RD_base frame
	sgiBase    = gicrBase + 0x1_0000
	timerINTID = 27 // the EL1 virtual timer's PPI
)

// Registers of the distributor, of the redistributor's RD_base frame and
// of its SGI_base frame (IHI 0069, 12.9 and 12.10), offsets from
// gicdBase, gicrBase and sgiBase.
const (
	gicdCTLR        = 0x000
	gicdCTLR_Grp1   = 1 << 1 // EnableGrp1 (EnableGrp1NS, EnableGrp1A)
	gicdCTLR_ARE    = 1 << 4 // affinity routing (ARE_NS)
	gicrWAKER       = 0x014
	gicrWAKER_Sleep = 1 << 1 // ProcessorSleep
	gicrIGROUPR0    = 0x080
	gicrISENABLER0  = 0x100
	gicrIPRIORITYR  = 0x400 // one byte per INTID
	uartDR, uartFR  = 0x000, 0x018
	uartFR_RXFE     = 4 // UARTFR bit: receive FIFO empty
	uartFR_TXFF     = 5 // UARTFR bit: transmit FIFO full
	cntvCTL_ENABLE  = 1
	vectorsAlign    = 0x800 // VBAR_EL1[10:0] are RES0
	vectorEntrySize = 0x80
	irqCurrentSPx   = 5 // IRQ from the current EL with SP_ELx: VBAR + 0x280
)

// The system registers it uses (Arm ARM D23, ICC_* in IHI 0069 12.2).
var (
	vbarEL1       = sysreg{3, 0, 12, 0, 0, "vbar_el1"}
	esrEL1        = sysreg{3, 0, 5, 2, 0, "esr_el1"}
	elrEL1        = sysreg{3, 0, 4, 0, 1, "elr_el1"}
	currentEL     = sysreg{3, 0, 4, 2, 2, "currentel"}
	iccSRE        = sysreg{3, 0, 12, 12, 5, "icc_sre_el1"}
	iccPMR        = sysreg{3, 0, 4, 6, 0, "icc_pmr_el1"}
	iccIGRPEN1    = sysreg{3, 0, 12, 12, 7, "icc_igrpen1_el1"}
	iccAP1R0      = sysreg{3, 0, 12, 9, 0, "icc_ap1r0_el1"}
	iccRPR        = sysreg{3, 0, 12, 11, 3, "icc_rpr_el1"}
	iccIAR1       = sysreg{3, 0, 12, 12, 0, "icc_iar1_el1"}
	cntfrqEL0     = sysreg{3, 3, 14, 0, 0, "cntfrq_el0"}
	cntvctEL0     = sysreg{3, 3, 14, 0, 2, "cntvct_el0"}
	cntvTVALEL0   = sysreg{3, 3, 14, 3, 0, "cntv_tval_el0"}
	cntvCTLEL0    = sysreg{3, 3, 14, 3, 1, "cntv_ctl_el0"}
	iccSREEnables = uint16(0x7) // SRE, DFB, DIB: as Linux sets them
)

// Registers the program keeps its state in.
const (
	rUART   = 19 // the UART's base
	rN      = 20 // the line counter
	rSGI    = 21 // the redistributor's SGI_base frame
	rIAR    = 22 // what the IRQ vector read from ICC_IAR1_EL1
	rIRQs   = 23 // interrupts taken
	rPeriod = 24 // half a second of CNTVCT_EL0
	rNext   = 25 // when the next line is due
	rUntil  = 26 // the end of the wait for the interrupt
)

// Image returns the hostile kernel: an arm64 Image (text_offset 0, 4 KiB
// pages, placed anywhere) of a few KiB.
func Image() []byte {
	p, err := program()
	if err != nil {
		panic(err) // the program is fixed: the host test runs it
	}
	return p.image
}

// assembled is the Image with the text of each instruction word by
// offset, and where each label is.
type assembled struct {
	image  []byte
	text   map[int]string
	labels map[string]int
}

// program assembles the Image.
func program() (assembled, error) {
	a := newAsm()
	// The Image header: code0 branches to the entry, code1 is never run.
	a.b("start")
	a.emit(0xd503201f, "nop") // NOP (C6.2.238)
	a.bytes(make([]byte, guest.ImageHeaderSize-8))

	a.label("start")
	a.mov64(rUART, uartBase)
	a.mov64(rSGI, sgiBase)
	// The GIC as Linux sets it up (under Ferry the guard keeps these bits
	// as Ferry needs them; natively they are off at reset): affinity
	// routing, then Group 1, in the distributor; the redistributor awake.
	a.mov64(2, gicdBase)
	a.ldrw(0, 2, gicdCTLR)
	a.movzw(1, gicdCTLR_ARE, 0)
	a.orrw(0, 0, 1)
	a.strw(0, 2, gicdCTLR)
	a.movzw(1, gicdCTLR_Grp1, 0)
	a.orrw(0, 0, 1)
	a.strw(0, 2, gicdCTLR)
	a.mov64(2, gicrBase)
	a.ldrw(0, 2, gicrWAKER)
	a.bicw(0, 0, gicrWAKER_Sleep)
	a.strw(0, 2, gicrWAKER)
	a.dsbSY()
	a.adr(0, "vectors")
	a.msr(vbarEL1, 0)
	a.movz(0, iccSREEnables, 0)
	a.msr(iccSRE, 0)
	a.isb()
	a.movz(0, 0xff, 0)
	a.msr(iccPMR, 0)
	a.movz(0, 1, 0)
	a.msr(iccIGRPEN1, 0)
	a.isb()
	a.movz(rN, 0, 0)
	a.movz(rIRQs, 0, 0)
	a.movz(rIAR, 0x3ff, 0) // the spurious INTID: nothing acknowledged yet
	a.mrs(rPeriod, cntfrqEL0)
	a.lsri(rPeriod, rPeriod, 1)
	a.puts("s_start")
	a.mrs(3, currentEL)
	a.lsri(3, 3, 2)
	a.putdec()
	a.puts("s_nl")

	// The counter, forever.
	a.label("loop")
	a.mrs(rNext, cntvctEL0)
	a.add(rNext, rNext, rPeriod, 0)
	a.label("wait")
	a.mrs(0, cntvctEL0)
	a.cmp(0, rNext)
	a.bcond(lo, "wait")
	a.addi(rN, rN, 1)
	a.puts("s_n")
	a.mov(3, rN)
	a.putdec()
	a.puts("s_rpr")
	a.mrs(3, iccRPR)
	a.putdec()
	a.puts("s_irqs")
	a.mov(3, rIRQs)
	a.putdec()
	a.puts("s_nl")
	// A command?
	a.ldrw(0, rUART, uartFR)
	a.tbnz(0, uartFR_RXFE, "loop")
	a.ldrw(0, rUART, uartDR)
	a.uxtb(0, 0)
	a.cmpiw(0, 'a')
	a.bcond(eq, "ap1r0")
	a.cmpiw(0, 'b')
	a.bcond(eq, "noeoi")
	a.b("loop")

	// (a) The running priority raised to the top.
	a.label("ap1r0")
	a.movz(0, 1, 0)
	a.msr(iccAP1R0, 0)
	a.isb()
	a.puts("s_ap1r0")
	a.mrs(3, iccRPR)
	a.putdec()
	a.puts("s_nl")
	a.b("loop")

	// (b) An interrupt acknowledged at priority 0, never ended.
	a.label("noeoi")
	a.movz(0, 0, 0)
	a.msr(iccAP1R0, 0) // undo (a), or nothing could be taken
	a.isb()
	a.movzw(1, 1<<(timerINTID-16), 16) // 1 << 27
	a.ldrw(0, rSGI, gicrIGROUPR0)
	a.orrw(0, 0, 1)
	a.strw(0, rSGI, gicrIGROUPR0)
	a.strb(31, rSGI, gicrIPRIORITYR+timerINTID)
	a.strw(1, rSGI, gicrISENABLER0)
	a.dsbSY()
	a.movz(0, 0, 0)
	a.msr(cntvTVALEL0, 0)
	a.movz(0, cntvCTL_ENABLE, 0)
	a.msr(cntvCTLEL0, 0)
	a.isb()
	a.mov(7, rIRQs)
	a.mrs(rUntil, cntvctEL0)
	a.add(rUntil, rUntil, rPeriod, 2) // two seconds
	a.msrDAIFClr(2)                   // IRQs unmasked, for good
	a.label("noeoi_wait")
	a.cmp(rIRQs, 7)
	a.bcond(ne, "noeoi_taken")
	a.mrs(0, cntvctEL0)
	a.cmp(0, rUntil)
	a.bcond(lo, "noeoi_wait")
	a.puts("s_noirq")
	a.b("loop")
	a.label("noeoi_taken")
	a.puts("s_acked")
	a.mov(3, rIAR)
	a.putdec()
	a.puts("s_rpr")
	a.mrs(3, iccRPR)
	a.putdec()
	a.puts("s_nl")
	a.b("loop")

	// Any other exception: say which, and stop.
	a.label("bad")
	a.puts("s_bad")
	a.mov(3, 9)
	a.puthex()
	a.puts("s_esr")
	a.mrs(3, esrEL1)
	a.puthex()
	a.puts("s_elr")
	a.mrs(3, elrEL1)
	a.puthex()
	a.puts("s_nl")
	a.label("stop")
	a.b("stop")

	a.subroutines()

	// The vectors (Arm ARM D1.3.1, table D1-7): 16 entries of 0x80 bytes.
	a.align(vectorsAlign)
	a.label("vectors")
	for i := range 16 {
		at := a.pc()
		if i == irqCurrentSPx {
			// Acknowledge, count, return: no EOI, no DIR, ever.
			a.mrs(rIAR, iccIAR1)
			a.addi(rIRQs, rIRQs, 1)
			a.eret()
		} else {
			a.movz(9, uint16(i*vectorEntrySize), 0)
			a.b("bad")
		}
		a.bytes(make([]byte, at+vectorEntrySize-a.pc()))
	}

	for _, s := range []struct{ label, text string }{
		{"s_start", "FERRY-HOSTILE start el="},
		{"s_n", "FERRY-HOSTILE n="},
		{"s_rpr", " rpr="},
		{"s_irqs", " irqs="},
		{"s_ap1r0", "FERRY-HOSTILE ap1r0 written rpr="},
		{"s_acked", "FERRY-HOSTILE acked intid="},
		{"s_noirq", "FERRY-HOSTILE BAD no interrupt\r\n"},
		{"s_bad", "FERRY-HOSTILE BAD exception vector="},
		{"s_esr", " esr="},
		{"s_elr", " elr="},
		{"s_nl", "\r\n"},
	} {
		a.label(s.label)
		a.bytes(append([]byte(s.text), 0))
	}
	a.align(4096)

	b, text, err := a.finish()
	if err != nil {
		return assembled{}, fmt.Errorf("hostile: %w", err)
	}
	h := guest.ImageHeader{
		Code0:     binary.LittleEndian.Uint32(b),
		Code1:     0xd503201f,
		ImageSize: uint64(len(b)),
		Flags:     guest.FlagPage4K | guest.FlagAnywhere,
	}
	h.Put(b)
	return assembled{b, text, a.labels}, nil
}

// puts prints the NUL-terminated string at label (x0-x2 and x30 used).
func (a *asm) puts(label string) {
	a.adr(2, label)
	a.bl("puts")
}

// putdec prints x3 in decimal (below 10^10); puthex prints it as 16
// hexadecimal digits.
func (a *asm) putdec() { a.bl("putdec") }
func (a *asm) puthex() { a.bl("puthex") }

// putc is inline: wait for room in the transmit FIFO, write w0 (x1 used).
func (a *asm) putc(name string) {
	a.label(name)
	a.ldrw(1, rUART, uartFR)
	a.tbnz(1, uartFR_TXFF, name)
	a.strw(0, rUART, uartDR)
}

// subroutines are puts, putdec and puthex: leaves (they call nothing, so
// x30 holds their return address throughout) using x0-x7.
func (a *asm) subroutines() {
	// puts: x2 = the string.
	a.label("puts")
	a.label("puts_next")
	a.ldrbPost(0, 2)
	a.cbz(0, "puts_done")
	a.putc("puts_putc")
	a.b("puts_next")
	a.label("puts_done")
	a.ret()

	// putdec: x3 = the value. x4 = the power of ten, x5 the digit, x6 =
	// 10, x7 = a digit was printed.
	a.label("putdec")
	a.mov64(4, 1_000_000_000)
	a.movz(6, 10, 0)
	a.movz(7, 0, 0)
	a.label("putdec_digit")
	a.udiv(5, 3, 4)
	a.msub(3, 5, 4, 3)
	a.cbnz(5, "putdec_print")
	a.cbnz(7, "putdec_print")
	a.cmpi(4, 1)
	a.bcond(ne, "putdec_skip")
	a.label("putdec_print")
	a.movz(7, 1, 0)
	a.addi(0, 5, '0')
	a.putc("putdec_putc")
	a.label("putdec_skip")
	a.udiv(4, 4, 6)
	a.cbnz(4, "putdec_digit")
	a.ret()

	// puthex: x3 = the value; x4 = the shift of the next digit.
	a.label("puthex")
	a.movz(4, 64, 0)
	a.label("puthex_digit")
	a.subi(4, 4, 4)
	a.lsr(0, 3, 4)
	a.andLow(0, 0, 4)
	a.cmpi(0, 10)
	a.bcond(lo, "puthex_num")
	a.addi(0, 0, 'a'-10-'0')
	a.label("puthex_num")
	a.addi(0, 0, '0')
	a.putc("puthex_putc")
	a.cbnz(4, "puthex_digit")
	a.ret()
}
