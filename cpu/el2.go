// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

// HCR_EL2 fields (ARM ARM D23.2 HCR_EL2, Hypervisor Configuration Register).
const (
	HCR_VM   = 1 << 0  // stage 2 translation on
	HCR_SWIO = 1 << 1  // set/way invalidation override
	HCR_FMO  = 1 << 3  // physical FIQs routed to EL2
	HCR_IMO  = 1 << 4  // physical IRQs routed to EL2
	HCR_AMO  = 1 << 5  // SErrors routed to EL2
	HCR_TWI  = 1 << 13 // trap WFI
	HCR_TSC  = 1 << 19 // trap SMC
	HCR_TID3 = 1 << 18 // trap ID group 3 (the ID_* feature registers)
	HCR_RW   = 1 << 31 // EL1 is AArch64
	HCR_APK  = 1 << 40 // do not trap pointer-authentication key registers
	HCR_API  = 1 << 41 // do not trap pointer-authentication instructions
)

// CPTR_EL2 fields with HCR_EL2.E2H == 0 (ARM ARM D23.2 CPTR_EL2).
const (
	CPTR_RES1 = 0x22ff  // bits [7:0], 9 and 13 are RES1
	CPTR_TZ   = 1 << 8  // trap SVE (RES1 when SVE is not implemented)
	CPTR_TFP  = 1 << 10 // trap FP/SIMD
	CPTR_TSM  = 1 << 12 // trap SME (RES1 when SME is not implemented)
)

// CNTHCTL_EL2 fields with HCR_EL2.E2H == 0 (ARM ARM D24.8 CNTHCTL_EL2).
const (
	CNTHCTL_EL1PCTEN = 1 << 0 // EL1/EL0 physical counter not trapped
	CNTHCTL_EL1PCEN  = 1 << 1 // EL1/EL0 physical timer not trapped
)

// SPSR_EL2 values (ARM ARM C5.2 SPSR_EL2).
const (
	SPSR_EL1h = 0b0101   // M[3:0]: EL1 with SP_EL1
	SPSR_DAIF = 0xf << 6 // D, A, I, F masked
)

// SCTLR_EL1Reset is SCTLR_EL1 with only its RES1 bits set: MMU and caches
// off, as the arm64 Linux boot protocol requires at entry
// (ARM ARM D23.2 SCTLR_EL1; Documentation/arch/arm64/booting.rst).
const SCTLR_EL1Reset = 0x30d00800

// ICC_SRE_EL2 fields (GICv3 12.2 ICC_SRE_EL2).
const (
	ICC_SRE_SRE    = 1 << 0 // system register interface at EL2
	ICC_SRE_DFB    = 1 << 1 // disable FIQ bypass
	ICC_SRE_DIB    = 1 << 2 // disable IRQ bypass
	ICC_SRE_Enable = 1 << 3 // EL1 may access ICC_SRE_EL1
)

// ID register fields Ferry checks (ARM ARM D23.2 ID_AA64*).
const (
	ISAR0_RNDR_Shift    = 60 // ID_AA64ISAR0_EL1.RNDR
	ISAR1_APA_Shift     = 4  // ID_AA64ISAR1_EL1.APA
	ISAR1_API_Shift     = 8  // ID_AA64ISAR1_EL1.API
	ISAR1_GPA_Shift     = 24 // ID_AA64ISAR1_EL1.GPA
	ISAR1_GPI_Shift     = 28 // ID_AA64ISAR1_EL1.GPI
	ISAR2_APA3_Shift    = 12 // ID_AA64ISAR2_EL1.APA3
	ISAR2_GPA3_Shift    = 8  // ID_AA64ISAR2_EL1.GPA3
	PFR0_SVE_Shift      = 32 // ID_AA64PFR0_EL1.SVE
	PFR1_SME_Shift      = 24 // ID_AA64PFR1_EL1.SME
	DFR0_PMUVer_Shift   = 8  // ID_AA64DFR0_EL1.PMUVer (0: no PMU, 0xf: IMPLEMENTATION DEFINED, not the architected one)
	MMFR0_PARange_Shift = 0
)

// PMUVer values with no architected PMU (ID_AA64DFR0_EL1.PMUVer, ARM ARM
// D23.2).
const (
	PMUVerNone   = 0x0
	PMUVerImpDef = 0xf
	PMCR_N_Shift = 11 // PMCR_EL0.N: event counters implemented (ARM ARM D23.5)
	PMCR_N_Mask  = 0x1f
)

// PMUVer values from which MDCR_EL2 has the controls below.
const (
	PMUVer3p1 = 0x4 // FEAT_PMUv3p1: MDCR_EL2.HPMD
	PMUVer3p5 = 0x6 // FEAT_PMUv3p5: MDCR_EL2.HCCD
)

// MDCR_EL2 fields (ARM ARM D23.3 MDCR_EL2, Monitor Debug Configuration
// Register (EL2)).
const (
	MDCR_HPMN_Mask = 0x1f    // HPMN, [4:0]: the event counters EL1 and EL0 use
	MDCR_HPMD      = 1 << 17 // those counters do not count at EL2 (FEAT_PMUv3p1)
	MDCR_HCCD      = 1 << 23 // the cycle counter does not count at EL2 (FEAT_PMUv3p5)
)

// MDCR is MDCR_EL2 for a guest that has the whole PMU, given
// ID_AA64DFR0_EL1 and PMCR_EL0: every event counter is the guest's (HPMN
// = PMCR_EL0.N), none traps, and none counts while Ferry runs at EL2 (HPMD
// and HCCD where the CPU has them), so the guest's PMU sees the guest
// alone. Without an architected PMU it is 0. (The guest's ID registers
// hide the PMU, whose state is not moved: docs/state.md; a guest that
// uses it all the same finds it as this leaves it.)
func MDCR(dfr0, pmcr uint64) uint64 {
	v := Field(dfr0, DFR0_PMUVer_Shift)
	if v == PMUVerNone || v == PMUVerImpDef {
		return 0
	}
	mdcr := pmcr >> PMCR_N_Shift & PMCR_N_Mask
	if v >= PMUVer3p1 {
		mdcr |= MDCR_HPMD
	}
	if v >= PMUVer3p5 {
		mdcr |= MDCR_HCCD
	}
	return mdcr
}

// Field extracts the 4-bit ID register field at shift.
func Field(reg uint64, shift uint) uint64 { return reg >> shift & 0xf }

// HasPAuth reports pointer authentication from the ISAR1/ISAR2 fields.
func HasPAuth(isar1, isar2 uint64) bool {
	return Field(isar1, ISAR1_APA_Shift) != 0 || Field(isar1, ISAR1_API_Shift) != 0 ||
		Field(isar1, ISAR1_GPA_Shift) != 0 || Field(isar1, ISAR1_GPI_Shift) != 0 ||
		Field(isar2, ISAR2_APA3_Shift) != 0 || Field(isar2, ISAR2_GPA3_Shift) != 0
}
