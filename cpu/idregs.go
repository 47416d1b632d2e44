// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import "fmt"

// The CPU the guest sees. With HCR_EL2.TID3 set, every read the guest
// makes of the ID register space (op0 3, op1 0, CRn 0, CRm 1..7, ARM ARM
// D23.2 and the "ID register" encoding space of C5.3) traps to Ferry
// (ESR EC 0x18), which answers from an IDView: the hardware's value with
// every feature Ferry neither runs nor moves taken out, field by field,
// as KVM does (arch/arm64/kvm/sys_regs.c: read_id_reg,
// sanitise_id_aa64pfr0_el1, sanitise_id_aa64pfr1_el1,
// sanitise_id_aa64dfr0_el1). A field is passed only if it is listed
// below: a feature a later CPU adds is hidden until someone decides it can
// run and move. Registers Ferry does not list read as zero (RAZ), as
// unallocated ones do. docs/state.md has the table and the reasons.

// fieldRule is what the guest sees of one 4-bit ID field.
type fieldRule struct {
	shift uint
	max   uint64 // the highest value passed (an unsigned field, ARM ARM D23.1.3 "Principles of the ID scheme"); 0xf passes any
}

// pass passes the field at shift unchanged; limit passes at most max.
func pass(shift uint) fieldRule              { return fieldRule{shift, 0xf} }
func limit(shift uint, max uint64) fieldRule { return fieldRule{shift, max} }

// idRule is one ID register the guest reads: its encoding, and either the
// fields it sees (every other field reads 0) or all of it (whole).
type idRule struct {
	name     string
	crm, op2 uint32
	whole    bool
	fields   []fieldRule
	aarch32  bool // an AArch32 register: zero without AArch32 at EL0
}

// ID_AA64PFR0_EL1 fields (ARM ARM D23.2 ID_AA64PFR0_EL1); PFR0_SVE_Shift
// is in el2.go.
const (
	PFR0_EL0_Shift     = 0
	PFR0_EL1_Shift     = 4
	PFR0_EL2_Shift     = 8  // hidden: the guest has no EL2
	PFR0_EL3_Shift     = 12 // (the guest's SMCs are Ferry's PSCI)
	PFR0_FP_Shift      = 16
	PFR0_AdvSIMD_Shift = 20
	PFR0_GIC_Shift     = 24
	PFR0_RAS_Shift     = 28
	PFR0_SEL2_Shift    = 36 // hidden: Secure EL2
	PFR0_MPAM_Shift    = 40 // hidden: MPAM's registers are not moved
	PFR0_AMU_Shift     = 44 // hidden: the activity monitors are not moved
	PFR0_DIT_Shift     = 48
	PFR0_RME_Shift     = 52 // hidden: Realm Management
	PFR0_CSV2_Shift    = 56
	PFR0_CSV3_Shift    = 60

	// PFR0_EL0AArch64 is ID_AA64PFR0_EL1.EL0 for "EL0 runs AArch64
	// only" (no 32-bit processes).
	PFR0_EL0AArch64 = 0b0001
)

// ID_AA64PFR1_EL1 fields (ARM ARM D23.2 ID_AA64PFR1_EL1); PFR1_MTE_Shift,
// PFR1_NMI_Shift and PFR1_SME_Shift are in inject.go and el2.go.
const (
	PFR1_BT_Shift        = 0
	PFR1_SSBS_Shift      = 4
	PFR1_RAS_frac_Shift  = 12
	PFR1_MPAM_frac_Shift = 16 // hidden with MPAM
	PFR1_RNDR_trap_Shift = 28 // hidden: SCR_EL3's trap of RNDR
	PFR1_CSV2_frac_Shift = 32
	PFR1_MTE_frac_Shift  = 40 // hidden with MTE
	PFR1_GCS_Shift       = 44 // hidden: GCSCR_EL1, GCSPR_EL1/EL0 are not moved
	PFR1_THE_Shift       = 48 // hidden: RCWMASK_EL1, RCWSMASK_EL1 are not moved
	PFR1_MTEX_Shift      = 52 // hidden with MTE
	PFR1_DF2_Shift       = 56 // hidden: FEAT_DoubleFault2's controls
	PFR1_PFAR_Shift      = 60 // hidden: PFAR_EL1 is not moved
)

// ID_AA64DFR0_EL1 fields (ARM ARM D23.3 ID_AA64DFR0_EL1); DFR0_PMUVer_Shift
// is in el2.go.
const (
	DFR0_DebugVer_Shift   = 0
	DFR0_TraceVer_Shift   = 4  // hidden: trace is not moved
	DFR0_BRPs_Shift       = 12 // breakpoints - 1: moved (State.Debug)
	DFR0_PMSS_Shift       = 16 // hidden with the PMU
	DFR0_WRPs_Shift       = 20 // watchpoints - 1: moved
	DFR0_SEBEP_Shift      = 24 // hidden with the PMU
	DFR0_CTX_CMPs_Shift   = 28
	DFR0_PMSVer_Shift     = 32 // hidden: the statistical profiling extension
	DFR0_DoubleLock_Shift = 36 // 0xf: no FEAT_DoubleLock (OSDLR_EL1 moved when there is one)
	DFR0_TraceFilt_Shift  = 40 // hidden: TRFCR_EL1
	DFR0_TraceBuf_Shift   = 44 // hidden: the trace buffer
	DFR0_MTPMU_Shift      = 48 // hidden with the PMU
	DFR0_BRBE_Shift       = 52 // hidden: the branch record buffer
	DFR0_HPMN0_Shift      = 60 // hidden with the PMU

	// DebugVer8p8 is FEAT_Debugv8p8, the newest debug architecture the
	// guest is shown: v8.9 adds MDSELR_EL1 and more than 16 breakpoints
	// (ID_AA64DFR1_EL1), which Ferry does not move.
	DebugVer8p8 = 0b1010
	// DoubleLockNone is ID_AA64DFR0_EL1.DoubleLock without FEAT_DoubleLock.
	DoubleLockNone = 0xf
)

// ID_AA64ISAR fields Ferry hides (ARM ARM D23.2 ID_AA64ISAR0_EL1,
// ID_AA64ISAR1_EL1, ID_AA64ISAR2_EL1).
const (
	ISAR0_TME_Shift         = 24 // transactional memory: TSTART's state
	ISAR1_LS64_Shift        = 60 // ACCDATA_EL1 is not moved
	ISAR2_WFxT_Shift        = 0  // Ferry's trapped WFI does not honour WFIT's deadline
	ISAR2_MOPS_Shift        = 16 // needs HCRX_EL2.MSCEn, which Ferry does not set
	ISAR2_SYSREG_128_Shift  = 32 // 128-bit system registers
	ISAR2_SYSINSTR_128Shift = 36
)

// ID_AA64MMFR fields with a rule (ARM ARM D23.2 ID_AA64MMFR0_EL1,
// ID_AA64MMFR1_EL1, ID_AA64MMFR2_EL1).
const (
	MMFR0_FGT_Shift    = 56 // hidden: EL2's fine-grained traps
	MMFR1_HAFDBS_Shift = 0  // limited to 2: FEAT_HAFT needs TCR2_EL1
	MMFR1_VH_Shift     = 8  // hidden: EL2 only
	MMFR1_TWED_Shift   = 32 // hidden: EL2 only
	MMFR1_HCX_Shift    = 40 // hidden: HCRX_EL2 is EL2's
	MMFR2_NV_Shift     = 24 // hidden: the guest has no EL2
	MMFR2_FWB_Shift    = 40 // hidden: EL2 only

	// PARange40 is ID_AA64MMFR0_EL1.PARange for 40 bits: the guest's
	// physical address space is Ferry's stage 2's input range.
	PARange40 = 0b0010
	// HAFDBSDirty is hardware access flag and dirty state management
	// (FEAT_HAFDBS); 3, FEAT_HAFT, is enabled by TCR2_EL1.
	HAFDBSDirty = 0b0010
)

// AArch32 ID fields hidden for the same reasons as their AArch64 twins
// (ARM ARM D23.3 ID_PFR0_EL1, ID_DFR0_EL1).
const (
	IDPFR0_AMU_Shift       = 20
	IDDFR0_CopTrc_Shift    = 12
	IDDFR0_MMapTrc_Shift   = 16
	IDDFR0_PerfMon_Shift   = 24
	IDDFR0_TraceFilt_Shift = 28
)

// Fields reserved (RES0) today, hidden like any field not listed: a
// later architecture may give them a feature.
const (
	ISAR0_Res0_Shift  = 0
	ISAR2_Res0_Shift  = 44
	MMFR0_Res0a_Shift = 48
	MMFR0_Res0b_Shift = 52
	MMFR2_Res0_Shift  = 44
)

// every field of a register but those at hide.
func allBut(hide ...uint) []fieldRule {
	var f []fieldRule
next:
	for s := uint(0); s < 64; s += 4 {
		for _, h := range hide {
			if s == h {
				continue next
			}
		}
		f = append(f, pass(s))
	}
	return f
}

// withLimit replaces the rule of the field at shift with a limit.
func withLimit(f []fieldRule, shift uint, max uint64) []fieldRule {
	for i := range f {
		if f[i].shift == shift {
			f[i].max = max
		}
	}
	return f
}

// idRules is the ID register space as the guest sees it. Registers not
// listed read as zero.
var idRules = []idRule{
	// AArch32 (a guest's 32-bit processes): their state is AArch64's, so
	// they are passed, without the activity monitors, trace and the PMU.
	{name: "ID_PFR0_EL1", crm: 1, op2: 0, aarch32: true, fields: allBut(IDPFR0_AMU_Shift)},
	{name: "ID_PFR1_EL1", crm: 1, op2: 1, aarch32: true, whole: true},
	{name: "ID_DFR0_EL1", crm: 1, op2: 2, aarch32: true, fields: allBut(IDDFR0_CopTrc_Shift, IDDFR0_MMapTrc_Shift, IDDFR0_PerfMon_Shift, IDDFR0_TraceFilt_Shift)},
	{name: "ID_MMFR0_EL1", crm: 1, op2: 4, aarch32: true, whole: true},
	{name: "ID_MMFR1_EL1", crm: 1, op2: 5, aarch32: true, whole: true},
	{name: "ID_MMFR2_EL1", crm: 1, op2: 6, aarch32: true, whole: true},
	{name: "ID_MMFR3_EL1", crm: 1, op2: 7, aarch32: true, whole: true},
	{name: "ID_ISAR0_EL1", crm: 2, op2: 0, aarch32: true, whole: true},
	{name: "ID_ISAR1_EL1", crm: 2, op2: 1, aarch32: true, whole: true},
	{name: "ID_ISAR2_EL1", crm: 2, op2: 2, aarch32: true, whole: true},
	{name: "ID_ISAR3_EL1", crm: 2, op2: 3, aarch32: true, whole: true},
	{name: "ID_ISAR4_EL1", crm: 2, op2: 4, aarch32: true, whole: true},
	{name: "ID_ISAR5_EL1", crm: 2, op2: 5, aarch32: true, whole: true},
	{name: "ID_MMFR4_EL1", crm: 2, op2: 6, aarch32: true, whole: true},
	{name: "ID_ISAR6_EL1", crm: 2, op2: 7, aarch32: true, whole: true},
	{name: "MVFR0_EL1", crm: 3, op2: 0, aarch32: true, whole: true},
	{name: "MVFR1_EL1", crm: 3, op2: 1, aarch32: true, whole: true},
	{name: "MVFR2_EL1", crm: 3, op2: 2, aarch32: true, whole: true},
	{name: "ID_PFR2_EL1", crm: 3, op2: 4, aarch32: true, whole: true},

	{name: "ID_AA64PFR0_EL1", crm: 4, op2: 0, fields: []fieldRule{
		pass(PFR0_EL0_Shift), pass(PFR0_EL1_Shift), pass(PFR0_EL3_Shift),
		pass(PFR0_FP_Shift), pass(PFR0_AdvSIMD_Shift), pass(PFR0_GIC_Shift),
		pass(PFR0_RAS_Shift), pass(PFR0_SVE_Shift), pass(PFR0_DIT_Shift),
		pass(PFR0_CSV2_Shift), pass(PFR0_CSV3_Shift),
	}},
	{name: "ID_AA64PFR1_EL1", crm: 4, op2: 1, fields: []fieldRule{
		pass(PFR1_BT_Shift), pass(PFR1_SSBS_Shift), pass(PFR1_RAS_frac_Shift), pass(PFR1_CSV2_frac_Shift),
	}},
	// SVE's instruction features: SVE itself is moved (ZCR_EL1, the
	// predicates, the Z registers at 128 bits).
	{name: "ID_AA64ZFR0_EL1", crm: 4, op2: 4, whole: true},
	{name: "ID_AA64DFR0_EL1", crm: 5, op2: 0, fields: []fieldRule{
		limit(DFR0_DebugVer_Shift, DebugVer8p8), pass(DFR0_BRPs_Shift), pass(DFR0_WRPs_Shift),
		pass(DFR0_CTX_CMPs_Shift), pass(DFR0_DoubleLock_Shift),
	}},
	{name: "ID_AA64ISAR0_EL1", crm: 6, op2: 0, fields: allBut(ISAR0_Res0_Shift, ISAR0_TME_Shift)},
	{name: "ID_AA64ISAR1_EL1", crm: 6, op2: 1, fields: allBut(ISAR1_LS64_Shift)},
	{name: "ID_AA64ISAR2_EL1", crm: 6, op2: 2, fields: allBut(ISAR2_WFxT_Shift, ISAR2_MOPS_Shift, ISAR2_SYSREG_128_Shift, ISAR2_SYSINSTR_128Shift, ISAR2_Res0_Shift)},
	{name: "ID_AA64MMFR0_EL1", crm: 7, op2: 0, fields: withLimit(allBut(MMFR0_Res0a_Shift, MMFR0_Res0b_Shift, MMFR0_FGT_Shift), MMFR0_PARange_Shift, PARange40)},
	{name: "ID_AA64MMFR1_EL1", crm: 7, op2: 1, fields: withLimit(allBut(MMFR1_VH_Shift, MMFR1_TWED_Shift, MMFR1_HCX_Shift), MMFR1_HAFDBS_Shift, HAFDBSDirty)},
	{name: "ID_AA64MMFR2_EL1", crm: 7, op2: 2, fields: allBut(MMFR2_NV_Shift, MMFR2_FWB_Shift, MMFR2_Res0_Shift)},
}

// IDRegNames are the ID registers Ferry reads from the CPU to answer the
// guest (the rest of the space reads as zero without a look).
func IDRegNames() []string {
	var n []string
	for _, r := range idRules {
		n = append(n, r.name)
	}
	return n
}

// IDView is the ID register space as the guest reads it, indexed by CRm
// 1..7 and op2.
type IDView struct {
	val [8][8]uint64
}

// sanitise is the guest's value of r given its hardware value.
func (r idRule) sanitise(raw uint64) uint64 {
	if r.whole {
		return raw
	}
	var v uint64
	for _, f := range r.fields {
		x := Field(raw, f.shift)
		if x > f.max {
			x = f.max
		}
		v |= x << f.shift
	}
	return v
}

// GuestIDs builds the guest's view of the ID registers from the hardware's,
// read by name (IDRegNames).
func GuestIDs(read func(name string) uint64) *IDView {
	v := &IDView{}
	aarch32 := Field(read("ID_AA64PFR0_EL1"), PFR0_EL0_Shift) != PFR0_EL0AArch64
	for _, r := range idRules {
		if r.aarch32 && !aarch32 {
			continue // UNKNOWN values without AArch32 (ARM ARM D23.3): zero for the guest
		}
		v.val[r.crm][r.op2] = r.sanitise(read(r.name))
	}
	return v
}

// Read returns the guest's value of the ID register at (CRm, op2): zero
// for an encoding Ferry does not list. ok is false outside the space
// TID3 traps (CRm 1..7).
func (v *IDView) Read(crm, op2 uint32) (val uint64, ok bool) {
	if crm < 1 || crm > 7 || op2 > 7 {
		return 0, false
	}
	return v.val[crm][op2], true
}

// Named returns the guest's value of every listed ID register by name:
// what a migration's fingerprint compares.
func (v *IDView) Named() map[string]uint64 {
	m := map[string]uint64{}
	for _, r := range idRules {
		m[r.name] = v.val[r.crm][r.op2]
	}
	return m
}

// Get returns the guest's value of the named register (0 if not listed).
func (v *IDView) Get(name string) uint64 {
	for _, r := range idRules {
		if r.name == name {
			return v.val[r.crm][r.op2]
		}
	}
	return 0
}

// Features are the optional register sets the guest sees, and so the ones
// its State carries.
func (v *IDView) Features() Features {
	var f Features
	if HasPAuth(v.Get("ID_AA64ISAR1_EL1"), v.Get("ID_AA64ISAR2_EL1")) {
		f |= FeatPAuth
	}
	if Field(v.Get("ID_AA64PFR0_EL1"), PFR0_SVE_Shift) != 0 {
		f |= FeatSVE
	}
	if Field(v.Get("ID_AA64PFR1_EL1"), PFR1_SME_Shift) != 0 {
		f |= FeatSME
	}
	return f
}

// Breakpoints returns the number of breakpoints and watchpoints
// (ID_AA64DFR0_EL1.BRPs + 1, WRPs + 1) and whether the CPU has
// FEAT_DoubleLock (OSDLR_EL1).
func Breakpoints(dfr0 uint64) (brps, wrps int, doubleLock bool) {
	return int(Field(dfr0, DFR0_BRPs_Shift)) + 1, int(Field(dfr0, DFR0_WRPs_Shift)) + 1,
		Field(dfr0, DFR0_DoubleLock_Shift) != DoubleLockNone
}

func (v *IDView) String() string {
	return fmt.Sprintf("ID_AA64PFR0 %#x PFR1 %#x DFR0 %#x", v.Get("ID_AA64PFR0_EL1"), v.Get("ID_AA64PFR1_EL1"), v.Get("ID_AA64DFR0_EL1"))
}
