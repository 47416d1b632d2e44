// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

// LiveEL1 is the guest's EL1Regs in the CPU: Ferry leaves them there while
// it runs at EL2 (HCR_EL2.E2H = 0), so an exception given to the guest at
// an exit is read and written with MRS/MSR here.
type LiveEL1 struct{}

// ReadEL1 reads VBAR_EL1, SCTLR_EL1 and the registers an exception entry
// writes, and the CPU's MTE and NMI features.
func (LiveEL1) ReadEL1() EL1Regs {
	pfr1 := ReadID_AA64PFR1_EL1()
	return EL1Regs{
		VBAR: ReadVBAR_EL1(), SCTLR: ReadSCTLR_EL1(),
		ESR: ReadESR_EL1(), FAR: ReadFAR_EL1(), ELR: ReadELR_EL1(), SPSR: ReadSPSR_EL1(),
		MTE: Field(pfr1, PFR1_MTE_Shift) != 0, NMI: Field(pfr1, PFR1_NMI_Shift) != 0,
	}
}

// WriteEL1 writes ESR_EL1, FAR_EL1, ELR_EL1 and SPSR_EL1.
func (LiveEL1) WriteEL1(r EL1Regs) {
	WriteESR_EL1(r.ESR)
	WriteFAR_EL1(r.FAR)
	WriteELR_EL1(r.ELR)
	WriteSPSR_EL1(r.SPSR)
}
