// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package sysregtab is the table of AArch64 system registers Ferry accesses,
// with their MRS/MSR encodings, and the renderer that turns it into the cpu
// package's assembly accessors. The Go assembler knows no EL2 system
// register, so each access is a WORD encoding generated from (op0, op1, CRn,
// CRm, op2); a host test checks the encodings against known values and that
// the generated files are up to date.
package sysregtab

// SysReg names one AArch64 system register by its MRS/MSR encoding fields
// (ARM ARM C5.3, "A64 system instructions for ... system register access").
type SysReg struct {
	Name                    string // architectural name, e.g. "HCR_EL2"
	Op0, Op1, CRn, CRm, Op2 uint32
	Read, Write             bool   // which accessors are generated
	Doc                     string // ARM ARM section and title
}

// msrBase and mrsBase are the fixed bits of MSR (register) and MRS
// (ARM ARM C6.2.195 MRS, C6.2.197 MSR (register)).
const (
	msrBase uint32 = 0xd5000000
	mrsBase uint32 = 0xd5200000
)

func (r SysReg) fields() uint32 {
	return r.Op0<<19 | r.Op1<<16 | r.CRn<<12 | r.CRm<<8 | r.Op2<<5
}

// MRS returns the encoding of "mrs x<rt>, <r>".
func (r SysReg) MRS(rt uint32) uint32 { return mrsBase | r.fields() | rt&31 }

// MSR returns the encoding of "msr <r>, x<rt>".
func (r SysReg) MSR(rt uint32) uint32 { return msrBase | r.fields() | rt&31 }

func rw(name string, op0, op1, crn, crm, op2 uint32, doc string) SysReg {
	return SysReg{name, op0, op1, crn, crm, op2, true, true, doc}
}

func ro(name string, op0, op1, crn, crm, op2 uint32, doc string) SysReg {
	return SysReg{name, op0, op1, crn, crm, op2, true, false, doc}
}

// SysRegs is every system register Ferry reads or writes. Section numbers
// are those of the ARM ARM for A-profile (DDI 0487), chapter D23 (AArch64
// system registers) and D24 (generic timer), and chapter 12 of the GICv3
// specification (IHI 0069) for ICC_ and ICH_ registers.
var SysRegs = merge([]SysReg{
	// Identification.
	ro("MIDR_EL1", 3, 0, 0, 0, 0, "ARM ARM D23.2 MIDR_EL1, Main ID Register"),
	ro("MPIDR_EL1", 3, 0, 0, 0, 5, "ARM ARM D23.2 MPIDR_EL1, Multiprocessor Affinity Register"),
	ro("ID_AA64PFR0_EL1", 3, 0, 0, 4, 0, "ARM ARM D23.2 ID_AA64PFR0_EL1, AArch64 Processor Feature Register 0"),
	ro("ID_AA64PFR1_EL1", 3, 0, 0, 4, 1, "ARM ARM D23.2 ID_AA64PFR1_EL1, AArch64 Processor Feature Register 1"),
	ro("ID_AA64DFR0_EL1", 3, 0, 0, 5, 0, "ARM ARM D23.2 ID_AA64DFR0_EL1, AArch64 Debug Feature Register 0"),
	ro("ID_AA64ISAR0_EL1", 3, 0, 0, 6, 0, "ARM ARM D23.2 ID_AA64ISAR0_EL1, AArch64 Instruction Set Attribute Register 0"),
	ro("ID_AA64ISAR1_EL1", 3, 0, 0, 6, 1, "ARM ARM D23.2 ID_AA64ISAR1_EL1, AArch64 Instruction Set Attribute Register 1"),
	ro("ID_AA64ISAR2_EL1", 3, 0, 0, 6, 2, "ARM ARM D23.2 ID_AA64ISAR2_EL1, AArch64 Instruction Set Attribute Register 2"),
	ro("ID_AA64MMFR0_EL1", 3, 0, 0, 7, 0, "ARM ARM D23.2 ID_AA64MMFR0_EL1, AArch64 Memory Model Feature Register 0"),
	ro("ID_AA64MMFR1_EL1", 3, 0, 0, 7, 1, "ARM ARM D23.2 ID_AA64MMFR1_EL1, AArch64 Memory Model Feature Register 1"),
	ro("ID_AA64MMFR2_EL1", 3, 0, 0, 7, 2, "ARM ARM D23.2 ID_AA64MMFR2_EL1, AArch64 Memory Model Feature Register 2"),
	ro("CTR_EL0", 3, 3, 0, 0, 1, "ARM ARM D23.2 CTR_EL0, Cache Type Register"),
	ro("CurrentEL", 3, 0, 4, 2, 2, "ARM ARM C5.2 CurrentEL, Current Exception Level"),
	ro("RNDR", 3, 3, 2, 4, 0, "ARM ARM C5.2 RNDR, Random Number (FEAT_RNG)"),
	ro("PMCR_EL0", 3, 3, 9, 12, 0, "ARM ARM D23.5 PMCR_EL0, Performance Monitors Control Register"),

	// EL2 configuration.
	rw("HCR_EL2", 3, 4, 1, 1, 0, "ARM ARM D23.2 HCR_EL2, Hypervisor Configuration Register"),
	rw("SCTLR_EL2", 3, 4, 1, 0, 0, "ARM ARM D23.2 SCTLR_EL2, System Control Register (EL2)"),
	rw("CPTR_EL2", 3, 4, 1, 1, 2, "ARM ARM D23.2 CPTR_EL2, Architectural Feature Trap Register (EL2)"),
	rw("MDCR_EL2", 3, 4, 1, 1, 1, "ARM ARM D23.3 MDCR_EL2, Monitor Debug Configuration Register (EL2)"),
	rw("VBAR_EL2", 3, 4, 12, 0, 0, "ARM ARM D23.2 VBAR_EL2, Vector Base Address Register (EL2)"),
	rw("TCR_EL2", 3, 4, 2, 0, 2, "ARM ARM D23.2 TCR_EL2, Translation Control Register (EL2)"),
	rw("TTBR0_EL2", 3, 4, 2, 0, 0, "ARM ARM D23.2 TTBR0_EL2, Translation Table Base Register 0 (EL2)"),
	rw("MAIR_EL2", 3, 4, 10, 2, 0, "ARM ARM D23.2 MAIR_EL2, Memory Attribute Indirection Register (EL2)"),
	rw("VTCR_EL2", 3, 4, 2, 1, 2, "ARM ARM D23.2 VTCR_EL2, Virtualization Translation Control Register"),
	rw("VTTBR_EL2", 3, 4, 2, 1, 0, "ARM ARM D23.2 VTTBR_EL2, Virtualization Translation Table Base Register"),
	rw("VPIDR_EL2", 3, 4, 0, 0, 0, "ARM ARM D23.2 VPIDR_EL2, Virtualization Processor ID Register"),
	rw("VMPIDR_EL2", 3, 4, 0, 0, 5, "ARM ARM D23.2 VMPIDR_EL2, Virtualization Multiprocessor ID Register"),
	rw("ESR_EL2", 3, 4, 5, 2, 0, "ARM ARM D23.2 ESR_EL2, Exception Syndrome Register (EL2)"),
	rw("FAR_EL2", 3, 4, 6, 0, 0, "ARM ARM D23.2 FAR_EL2, Fault Address Register (EL2)"),
	rw("HPFAR_EL2", 3, 4, 6, 0, 4, "ARM ARM D23.2 HPFAR_EL2, Hypervisor IPA Fault Address Register"),
	rw("ELR_EL2", 3, 4, 4, 0, 1, "ARM ARM C5.2 ELR_EL2, Exception Link Register (EL2)"),
	rw("SPSR_EL2", 3, 4, 4, 0, 0, "ARM ARM C5.2 SPSR_EL2, Saved Program Status Register (EL2)"),
	rw("TPIDR_EL2", 3, 4, 13, 0, 2, "ARM ARM D23.2 TPIDR_EL2, EL2 Software Thread ID Register"),

	// Generic timer, EL2 view (D24 The Generic Timer in AArch64 state).
	ro("CNTFRQ_EL0", 3, 3, 14, 0, 0, "ARM ARM D24.8 CNTFRQ_EL0, Counter-timer Frequency register"),
	ro("CNTPCT_EL0", 3, 3, 14, 0, 1, "ARM ARM D24.8 CNTPCT_EL0, Counter-timer Physical Count register"),
	ro("CNTVCT_EL0", 3, 3, 14, 0, 2, "ARM ARM D24.8 CNTVCT_EL0, Counter-timer Virtual Count register"),
	rw("CNTHCTL_EL2", 3, 4, 14, 1, 0, "ARM ARM D24.8 CNTHCTL_EL2, Counter-timer Hypervisor Control register"),
	rw("CNTVOFF_EL2", 3, 4, 14, 0, 3, "ARM ARM D24.8 CNTVOFF_EL2, Counter-timer Virtual Offset register"),
	rw("CNTHP_CTL_EL2", 3, 4, 14, 2, 1, "ARM ARM D24.8 CNTHP_CTL_EL2, Counter-timer Hypervisor Physical Timer Control register"),
	rw("CNTHP_CVAL_EL2", 3, 4, 14, 2, 2, "ARM ARM D24.8 CNTHP_CVAL_EL2, Counter-timer Physical Timer CompareValue register (EL2)"),
	rw("CNTV_CTL_EL0", 3, 3, 14, 3, 1, "ARM ARM D24.8 CNTV_CTL_EL0, Counter-timer Virtual Timer Control register"),
	rw("CNTV_CVAL_EL0", 3, 3, 14, 3, 2, "ARM ARM D24.8 CNTV_CVAL_EL0, Counter-timer Virtual Timer CompareValue register"),
	rw("CNTP_CTL_EL0", 3, 3, 14, 2, 1, "ARM ARM D24.8 CNTP_CTL_EL0, Counter-timer Physical Timer Control register"),
	rw("CNTP_CVAL_EL0", 3, 3, 14, 2, 2, "ARM ARM D24.8 CNTP_CVAL_EL0, Counter-timer Physical Timer CompareValue register"),
	rw("CNTKCTL_EL1", 3, 0, 14, 1, 0, "ARM ARM D24.8 CNTKCTL_EL1, Counter-timer Kernel Control register"),

	// EL1 state of the guest (what KVM lists in KVM_GET_REG_LIST for a
	// Linux guest without SVE, SME or MTE).
	rw("SCTLR_EL1", 3, 0, 1, 0, 0, "ARM ARM D23.2 SCTLR_EL1, System Control Register (EL1)"),
	rw("ACTLR_EL1", 3, 0, 1, 0, 1, "ARM ARM D23.2 ACTLR_EL1, Auxiliary Control Register (EL1)"),
	rw("CPACR_EL1", 3, 0, 1, 0, 2, "ARM ARM D23.2 CPACR_EL1, Architectural Feature Access Control Register"),
	rw("TTBR0_EL1", 3, 0, 2, 0, 0, "ARM ARM D23.2 TTBR0_EL1, Translation Table Base Register 0 (EL1)"),
	rw("TTBR1_EL1", 3, 0, 2, 0, 1, "ARM ARM D23.2 TTBR1_EL1, Translation Table Base Register 1 (EL1)"),
	rw("TCR_EL1", 3, 0, 2, 0, 2, "ARM ARM D23.2 TCR_EL1, Translation Control Register (EL1)"),
	rw("AFSR0_EL1", 3, 0, 5, 1, 0, "ARM ARM D23.2 AFSR0_EL1, Auxiliary Fault Status Register 0 (EL1)"),
	rw("AFSR1_EL1", 3, 0, 5, 1, 1, "ARM ARM D23.2 AFSR1_EL1, Auxiliary Fault Status Register 1 (EL1)"),
	rw("ESR_EL1", 3, 0, 5, 2, 0, "ARM ARM D23.2 ESR_EL1, Exception Syndrome Register (EL1)"),
	rw("FAR_EL1", 3, 0, 6, 0, 0, "ARM ARM D23.2 FAR_EL1, Fault Address Register (EL1)"),
	rw("PAR_EL1", 3, 0, 7, 4, 0, "ARM ARM D23.2 PAR_EL1, Physical Address Register"),
	rw("MAIR_EL1", 3, 0, 10, 2, 0, "ARM ARM D23.2 MAIR_EL1, Memory Attribute Indirection Register (EL1)"),
	rw("AMAIR_EL1", 3, 0, 10, 3, 0, "ARM ARM D23.2 AMAIR_EL1, Auxiliary Memory Attribute Indirection Register (EL1)"),
	rw("VBAR_EL1", 3, 0, 12, 0, 0, "ARM ARM D23.2 VBAR_EL1, Vector Base Address Register (EL1)"),
	rw("CONTEXTIDR_EL1", 3, 0, 13, 0, 1, "ARM ARM D23.2 CONTEXTIDR_EL1, Context ID Register (EL1)"),
	rw("TPIDR_EL1", 3, 0, 13, 0, 4, "ARM ARM D23.2 TPIDR_EL1, EL1 Software Thread ID Register"),
	rw("TPIDR_EL0", 3, 3, 13, 0, 2, "ARM ARM D23.2 TPIDR_EL0, EL0 Read/Write Software Thread ID Register"),
	rw("TPIDRRO_EL0", 3, 3, 13, 0, 3, "ARM ARM D23.2 TPIDRRO_EL0, EL0 Read-Only Software Thread ID Register"),
	rw("CSSELR_EL1", 3, 2, 0, 0, 0, "ARM ARM D23.2 CSSELR_EL1, Cache Size Selection Register"),
	rw("MDSCR_EL1", 2, 0, 0, 2, 2, "ARM ARM D23.3 MDSCR_EL1, Monitor Debug System Control Register"),
	rw("ELR_EL1", 3, 0, 4, 0, 1, "ARM ARM C5.2 ELR_EL1, Exception Link Register (EL1)"),
	rw("SPSR_EL1", 3, 0, 4, 0, 0, "ARM ARM C5.2 SPSR_EL1, Saved Program Status Register (EL1)"),
	rw("SP_EL0", 3, 0, 4, 1, 0, "ARM ARM C5.2 SP_EL0, Stack Pointer (EL0)"),
	rw("SP_EL1", 3, 4, 4, 1, 0, "ARM ARM C5.2 SP_EL1, Stack Pointer (EL1)"),

	// GICv3 CPU interface (IHI 0069, chapter 12).
	rw("ICC_SRE_EL2", 3, 4, 12, 9, 5, "GICv3 12 ICC_SRE_EL2, Interrupt Controller System Register Enable register (EL2)"),
	rw("ICH_HCR_EL2", 3, 4, 12, 11, 0, "GICv3 12 ICH_HCR_EL2, Interrupt Controller Hyp Control Register"),
	rw("ICC_PMR_EL1", 3, 0, 4, 6, 0, "GICv3 12 ICC_PMR_EL1, Interrupt Controller Interrupt Priority Mask Register"),
	rw("ICC_BPR0_EL1", 3, 0, 12, 8, 3, "GICv3 12 ICC_BPR0_EL1, Interrupt Controller Binary Point Register 0"),
	rw("ICC_BPR1_EL1", 3, 0, 12, 12, 3, "GICv3 12 ICC_BPR1_EL1, Interrupt Controller Binary Point Register 1"),
	rw("ICC_CTLR_EL1", 3, 0, 12, 12, 4, "GICv3 12 ICC_CTLR_EL1, Interrupt Controller Control Register (EL1)"),
	rw("ICC_SRE_EL1", 3, 0, 12, 12, 5, "GICv3 12 ICC_SRE_EL1, Interrupt Controller System Register Enable register (EL1)"),
	rw("ICC_IGRPEN0_EL1", 3, 0, 12, 12, 6, "GICv3 12 ICC_IGRPEN0_EL1, Interrupt Controller Interrupt Group 0 Enable register"),
	rw("ICC_IGRPEN1_EL1", 3, 0, 12, 12, 7, "GICv3 12 ICC_IGRPEN1_EL1, Interrupt Controller Interrupt Group 1 Enable register"),
	rw("ICC_AP0R0_EL1", 3, 0, 12, 8, 4, "GICv3 12 ICC_AP0R<n>_EL1, Interrupt Controller Active Priorities Group 0 Registers"),
	rw("ICC_AP1R0_EL1", 3, 0, 12, 9, 0, "GICv3 12 ICC_AP1R<n>_EL1, Interrupt Controller Active Priorities Group 1 Registers"),
	ro("ICC_IAR0_EL1", 3, 0, 12, 8, 0, "GICv3 12 ICC_IAR0_EL1, Interrupt Controller Interrupt Acknowledge Register 0"),
	{"ICC_EOIR0_EL1", 3, 0, 12, 8, 1, false, true, "GICv3 12 ICC_EOIR0_EL1, Interrupt Controller End Of Interrupt Register 0"},
	ro("ICC_RPR_EL1", 3, 0, 12, 11, 3, "GICv3 12 ICC_RPR_EL1, Interrupt Controller Running Priority Register"),
	ro("ICC_HPPIR1_EL1", 3, 0, 12, 12, 2, "GICv3 12 ICC_HPPIR1_EL1, Interrupt Controller Highest Priority Pending Interrupt Register 1"),
	// Pointer-authentication keys (FEAT_PAuth): part of the guest's state.
	rw("APIAKeyLo_EL1", 3, 0, 2, 1, 0, "ARM ARM D23.2 APIAKeyLo_EL1, Pointer Authentication Key A for Instruction (low)"),
	rw("APIAKeyHi_EL1", 3, 0, 2, 1, 1, "ARM ARM D23.2 APIAKeyHi_EL1, Pointer Authentication Key A for Instruction (high)"),
	rw("APIBKeyLo_EL1", 3, 0, 2, 1, 2, "ARM ARM D23.2 APIBKeyLo_EL1, Pointer Authentication Key B for Instruction (low)"),
	rw("APIBKeyHi_EL1", 3, 0, 2, 1, 3, "ARM ARM D23.2 APIBKeyHi_EL1, Pointer Authentication Key B for Instruction (high)"),
	rw("APDAKeyLo_EL1", 3, 0, 2, 2, 0, "ARM ARM D23.2 APDAKeyLo_EL1, Pointer Authentication Key A for Data (low)"),
	rw("APDAKeyHi_EL1", 3, 0, 2, 2, 1, "ARM ARM D23.2 APDAKeyHi_EL1, Pointer Authentication Key A for Data (high)"),
	rw("APDBKeyLo_EL1", 3, 0, 2, 2, 2, "ARM ARM D23.2 APDBKeyLo_EL1, Pointer Authentication Key B for Data (low)"),
	rw("APDBKeyHi_EL1", 3, 0, 2, 2, 3, "ARM ARM D23.2 APDBKeyHi_EL1, Pointer Authentication Key B for Data (high)"),
	rw("APGAKeyLo_EL1", 3, 0, 2, 3, 0, "ARM ARM D23.2 APGAKeyLo_EL1, Pointer Authentication Key A for Code (low)"),
	rw("APGAKeyHi_EL1", 3, 0, 2, 3, 1, "ARM ARM D23.2 APGAKeyHi_EL1, Pointer Authentication Key A for Code (high)"),
	// SVE/SME vector length controls, saved when the CPU has them.
	rw("ZCR_EL1", 3, 0, 1, 2, 0, "ARM ARM D23.2 ZCR_EL1, SVE Control Register (EL1)"),
	rw("ZCR_EL2", 3, 4, 1, 2, 0, "ARM ARM D23.2 ZCR_EL2, SVE Control Register (EL2)"),
	rw("SMCR_EL1", 3, 0, 1, 2, 6, "ARM ARM D23.2 SMCR_EL1, SME Control Register (EL1)"),
	rw("SMCR_EL2", 3, 4, 1, 2, 6, "ARM ARM D23.2 SMCR_EL2, SME Control Register (EL2)"),
	rw("ICH_VMCR_EL2", 3, 4, 12, 11, 7, "GICv3 12 ICH_VMCR_EL2, Interrupt Controller Virtual Machine Control Register"),
	rw("ICC_AP1R1_EL1", 3, 0, 12, 9, 1, "GICv3 12 ICC_AP1R<n>_EL1, Interrupt Controller Active Priorities Group 1 Registers"),
	rw("ICC_AP1R2_EL1", 3, 0, 12, 9, 2, "GICv3 12 ICC_AP1R<n>_EL1, Interrupt Controller Active Priorities Group 1 Registers"),
	rw("ICC_AP1R3_EL1", 3, 0, 12, 9, 3, "GICv3 12 ICC_AP1R<n>_EL1, Interrupt Controller Active Priorities Group 1 Registers"),
	{"ICC_SGI1R_EL1", 3, 0, 12, 11, 5, false, true, "GICv3 12 ICC_SGI1R_EL1, Interrupt Controller Software Generated Interrupt Group 1 Register"},
	{"ICC_ASGI1R_EL1", 3, 0, 12, 11, 6, false, true, "GICv3 12 ICC_ASGI1R_EL1, Interrupt Controller Alias Software Generated Interrupt Group 1 Register"},
	// The physical CPU interface's Group 1 acknowledge, priority drop and
	// deactivation, and the virtual CPU interface's control registers
	// (package gic/vcpuif; its numbered registers: ICHRegs).
	ro("ICC_IAR1_EL1", 3, 0, 12, 12, 0, "GICv3 12 ICC_IAR1_EL1, Interrupt Controller Interrupt Acknowledge Register 1"),
	{"ICC_EOIR1_EL1", 3, 0, 12, 12, 1, false, true, "GICv3 12 ICC_EOIR1_EL1, Interrupt Controller End Of Interrupt Register 1"},
	{"ICC_DIR_EL1", 3, 0, 12, 11, 1, false, true, "GICv3 12 ICC_DIR_EL1, Interrupt Controller Deactivate Interrupt Register"},
	ro("ICH_VTR_EL2", 3, 4, 12, 11, 1, "GICv3 12 ICH_VTR_EL2, Interrupt Controller VGIC Type Register"),
	ro("ICH_MISR_EL2", 3, 4, 12, 11, 2, "GICv3 12 ICH_MISR_EL2, Interrupt Controller Maintenance Interrupt State Register"),
	ro("ICH_EISR_EL2", 3, 4, 12, 11, 3, "GICv3 12 ICH_EISR_EL2, Interrupt Controller End of Interrupt Status Register"),
	ro("ICH_ELRSR_EL2", 3, 4, 12, 11, 5, "GICv3 12 ICH_ELRSR_EL2, Interrupt Controller Empty List Register Status Register"),
}, IDRegs(), DebugRegs(), ICHRegs())
