// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import (
	"slices"
	"testing"
)

// qemuMax is a CPU like QEMU's -cpu max with mte=on: MTE2, SME, GCS, NMI,
// a PMUv3p8, SPE and TRBE, 6 breakpoints and 4 watchpoints, a 48-bit
// physical address range, WFxT, MOPS and AArch32 at EL0.
func qemuMax() map[string]uint64 {
	return map[string]uint64{
		"ID_AA64PFR0_EL1":  0x1201_0011_1112_2122, // CSV3 1 CSV2 2 DIT 1 AMU 1 SEL2 1 SVE 1 RAS 2 GIC 1 AdvSIMD 1 FP 1 EL3 2 EL2 1 EL1 2 EL0 2
		"ID_AA64PFR1_EL1":  0x0000_1011_0101_0221, // GCS 1 NMI 1 CSV2_frac 1 SME 1 RAS_frac 1 MTE 2 SSBS 2 BT 1
		"ID_AA64DFR0_EL1":  0x0010_00f1_1030_5809, // BRBE 1 DoubleLock 0xf PMSVer 1 CTX_CMPs 1 WRPs 3 BRPs 5 PMUVer 8 DebugVer 9
		"ID_AA64ISAR0_EL1": 0x1221_1111_1121_2120, // TME 1
		"ID_AA64ISAR1_EL1": 0x1011_1111_1111_1111 | 0x2<<ISAR1_API_Shift,
		"ID_AA64ISAR2_EL1": 0x0000_0000_0001_1102, // MOPS 1 APA3 1 GPA3 1 WFxT 2
		"ID_AA64MMFR0_EL1": 0x1100_0000_0000_1125, // ECV 1 FGT 1 PARange 5 (48 bits)
		"ID_AA64MMFR1_EL1": 0x0000_0100_1021_1122, // HCX 1 TWED 1 VH 1 HAFDBS 2
		"ID_AA64MMFR2_EL1": 0x1221_0110_0101_1011, // FWB 1 NV 1
		"ID_AA64ZFR0_EL1":  0x0110_0110_0001_0011,
		"ID_PFR0_EL1":      0x0010_0131, // AMU 1
		"ID_DFR0_EL1":      0x1101_0088, // PerfMon 1 MProfDbg? CopTrc..
		"MVFR0_EL1":        0x1011_0222,
	}
}

func read(m map[string]uint64) func(string) uint64 {
	return func(n string) uint64 { return m[n] }
}

func TestGuestIDsHide(t *testing.T) {
	v := GuestIDs(read(qemuMax()))
	get := func(crm, op2 uint32) uint64 {
		x, ok := v.Read(crm, op2)
		if !ok {
			t.Fatalf("(%d, %d) outside the ID space", crm, op2)
		}
		return x
	}
	pfr0, pfr1, dfr0 := get(4, 0), get(4, 1), get(5, 0)
	for _, c := range []struct {
		what       string
		reg        uint64
		shift      uint
		want, host uint64
	}{
		{"PFR1.MTE", pfr1, PFR1_MTE_Shift, 0, 2},
		{"PFR1.SME", pfr1, PFR1_SME_Shift, 0, 1},
		{"PFR1.GCS", pfr1, PFR1_GCS_Shift, 0, 1},
		{"PFR1.NMI", pfr1, PFR1_NMI_Shift, 0, 1},
		{"PFR1.BT", pfr1, PFR1_BT_Shift, 1, 1},
		{"PFR1.SSBS", pfr1, PFR1_SSBS_Shift, 2, 2},
		{"PFR0.AMU", pfr0, PFR0_AMU_Shift, 0, 1},
		{"PFR0.EL2", pfr0, PFR0_EL2_Shift, 0, 1},
		{"PFR0.SVE", pfr0, PFR0_SVE_Shift, 1, 1},
		{"PFR0.GIC", pfr0, PFR0_GIC_Shift, 1, 1},
		{"DFR0.PMUVer", dfr0, DFR0_PMUVer_Shift, 0, 8},
		{"DFR0.BRPs", dfr0, DFR0_BRPs_Shift, 5, 5},
		{"DFR0.WRPs", dfr0, DFR0_WRPs_Shift, 3, 3},
		{"DFR0.DoubleLock", dfr0, DFR0_DoubleLock_Shift, DoubleLockNone, DoubleLockNone},
		{"DFR0.PMSVer", dfr0, DFR0_PMSVer_Shift, 0, 1},
		{"DFR0.DebugVer", dfr0, DFR0_DebugVer_Shift, 9, 9},
		{"ISAR2.WFxT", get(6, 2), ISAR2_WFxT_Shift, 0, 2},
		{"ISAR2.MOPS", get(6, 2), ISAR2_MOPS_Shift, 0, 1},
		{"ISAR2.APA3", get(6, 2), ISAR2_APA3_Shift, 1, 1},
		{"MMFR0.PARange", get(7, 0), MMFR0_PARange_Shift, PARange40, 5},
		{"MMFR0.FGT", get(7, 0), MMFR0_FGT_Shift, 0, 1},
		{"MMFR0.ECV", get(7, 0), 60, 1, 1},
		{"MMFR1.HCX", get(7, 1), MMFR1_HCX_Shift, 0, 1},
		{"MMFR1.HAFDBS", get(7, 1), MMFR1_HAFDBS_Shift, 2, 2},
		{"MMFR2.NV", get(7, 2), MMFR2_NV_Shift, 0, 1},
		{"ID_PFR0.AMU", get(1, 0), IDPFR0_AMU_Shift, 0, 1},
		{"ID_DFR0.PerfMon", get(1, 2), IDDFR0_PerfMon_Shift, 0, 1},
	} {
		if got := Field(c.reg, c.shift); got != c.want {
			t.Errorf("%s = %d, want %d (the CPU's %d)", c.what, got, c.want, c.host)
		}
	}
	if want := qemuMax()["ID_AA64ISAR0_EL1"] &^ (0xf << ISAR0_TME_Shift); get(6, 0) != want {
		t.Errorf("ISAR0 %#x, want the CPU's without TME, %#x", get(6, 0), want)
	}
	if get(3, 0) != qemuMax()["MVFR0_EL1"] || get(4, 4) != qemuMax()["ID_AA64ZFR0_EL1"] {
		t.Error("MVFR0 or ZFR0 not passed whole")
	}
	// Registers Ferry does not list read as zero: PFR2 (MTE's), SMFR0
	// (SME's), FPFR0, DFR1, AFR0, ISAR3, MMFR3 (TCR2, POE, S1PIE), MMFR4.
	for _, e := range [][2]uint32{{4, 2}, {4, 5}, {4, 7}, {5, 1}, {5, 4}, {6, 3}, {7, 3}, {7, 4}, {1, 3}, {3, 5}} {
		if x := get(e[0], e[1]); x != 0 {
			t.Errorf("(CRm %d, op2 %d) = %#x, want 0", e[0], e[1], x)
		}
	}
	for _, e := range [][2]uint32{{0, 0}, {8, 0}, {4, 8}} {
		if _, ok := v.Read(e[0], e[1]); ok {
			t.Errorf("(CRm %d, op2 %d) taken for the TID3 space", e[0], e[1])
		}
	}
	if f := v.Features(); f != FeatPAuth|FeatSVE {
		t.Errorf("guest features %#x, want PAuth and SVE (SME hidden)", uint32(f))
	}
	brps, wrps, dl := Breakpoints(dfr0)
	if brps != 6 || wrps != 4 || dl {
		t.Errorf("Breakpoints = %d, %d, %v; want 6, 4, false", brps, wrps, dl)
	}
}

// A field the table does not know -- a feature a later CPU adds -- is
// hidden; a value above a limit is capped; a CPU without AArch32 at EL0
// shows no AArch32 ID registers.
func TestGuestIDsUnknownHidden(t *testing.T) {
	m := qemuMax()
	m["ID_AA64PFR1_EL1"] |= 0x7 << 20                      // bits [23:20], reserved today
	m["ID_AA64DFR0_EL1"] = m["ID_AA64DFR0_EL1"]&^0xf | 0xb // DebugVer v8p9
	m["ID_AA64PFR0_EL1"] = m["ID_AA64PFR0_EL1"]&^0xf | PFR0_EL0AArch64
	m["ID_AA64MMFR0_EL1"] = m["ID_AA64MMFR0_EL1"]&^0xf | 0x1 // 36 bits: below the cap, kept
	v := GuestIDs(read(m))
	if x := Field(v.Get("ID_AA64PFR1_EL1"), 20); x != 0 {
		t.Errorf("a reserved PFR1 field reads %d", x)
	}
	if x := Field(v.Get("ID_AA64DFR0_EL1"), DFR0_DebugVer_Shift); x != DebugVer8p8 {
		t.Errorf("DebugVer %d, want %d", x, DebugVer8p8)
	}
	if x := Field(v.Get("ID_AA64MMFR0_EL1"), MMFR0_PARange_Shift); x != 1 {
		t.Errorf("PARange %d, want the CPU's 1", x)
	}
	if v.Get("MVFR0_EL1") != 0 || v.Get("ID_PFR0_EL1") != 0 {
		t.Error("AArch32 ID registers shown without AArch32 at EL0")
	}
}

// The fingerprint compares the guest's view: every register Ferry reads
// is named, and two CPUs differing only in a hidden feature look alike.
func TestIDViewNamed(t *testing.T) {
	a := qemuMax()
	b := qemuMax()
	b["ID_AA64PFR1_EL1"] &^= 0xf << PFR1_MTE_Shift // no MTE
	b["ID_AA64DFR0_EL1"] &^= 0xf << DFR0_PMUVer_Shift
	na, nb := GuestIDs(read(a)).Named(), GuestIDs(read(b)).Named()
	if len(na) != len(IDRegNames()) {
		t.Fatalf("%d named, %d read", len(na), len(IDRegNames()))
	}
	for _, n := range IDRegNames() {
		if na[n] != nb[n] {
			t.Errorf("%s differs: %#x, %#x", n, na[n], nb[n])
		}
	}
	if !slices.Contains(IDRegNames(), "ID_AA64PFR0_EL1") {
		t.Error("PFR0 not read")
	}
}
