// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package sysregtab

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Encodings as printed by GNU objdump for the same instructions.
func TestKnownEncodings(t *testing.T) {
	byName := map[string]SysReg{}
	for _, r := range SysRegs {
		if _, dup := byName[r.Name]; dup {
			t.Fatalf("%s listed twice", r.Name)
		}
		byName[r.Name] = r
	}
	cases := []struct {
		reg  string
		mrs  bool
		want uint32
	}{
		{"HCR_EL2", true, 0xd53c1100},         // mrs x0, hcr_el2
		{"HCR_EL2", false, 0xd51c1100},        // msr hcr_el2, x0
		{"VTTBR_EL2", false, 0xd51c2100},      // msr vttbr_el2, x0
		{"ESR_EL2", true, 0xd53c5200},         // mrs x0, esr_el2
		{"ELR_EL2", true, 0xd53c4020},         // mrs x0, elr_el2
		{"FAR_EL2", true, 0xd53c6000},         // mrs x0, far_el2
		{"SCTLR_EL1", true, 0xd5381000},       // mrs x0, sctlr_el1
		{"CNTPCT_EL0", true, 0xd53be020},      // mrs x0, cntpct_el0
		{"CNTFRQ_EL0", true, 0xd53be000},      // mrs x0, cntfrq_el0
		{"MDSCR_EL1", true, 0xd5300240},       // mrs x0, mdscr_el1
		{"SP_EL1", false, 0xd51c4100},         // msr sp_el1, x0
		{"CurrentEL", true, 0xd5384240},       // mrs x0, currentel
		{"RNDR", true, 0xd53b2400},            // mrs x0, rndr
		{"DBGBVR0_EL1", true, 0xd5300080},     // mrs x0, dbgbvr0_el1
		{"DBGWCR15_EL1", false, 0xd5100fe0},   // msr dbgwcr15_el1, x0
		{"OSLAR_EL1", false, 0xd5101080},      // msr oslar_el1, x0
		{"OSLSR_EL1", true, 0xd5301180},       // mrs x0, oslsr_el1
		{"ID_AA64ZFR0_EL1", true, 0xd5380480}, // mrs x0, id_aa64zfr0_el1
		{"MVFR0_EL1", true, 0xd5380300},       // mrs x0, mvfr0_el1
		// llvm-mc -triple=aarch64 -show-encoding
		{"ICH_VTR_EL2", true, 0xd53ccb20},    // mrs x0, ich_vtr_el2
		{"ICH_MISR_EL2", true, 0xd53ccb40},   // mrs x0, ich_misr_el2
		{"ICH_EISR_EL2", true, 0xd53ccb60},   // mrs x0, ich_eisr_el2
		{"ICH_ELRSR_EL2", true, 0xd53ccba0},  // mrs x0, ich_elrsr_el2
		{"ICH_LR0_EL2", false, 0xd51ccc00},   // msr ich_lr0_el2, x0
		{"ICH_LR7_EL2", true, 0xd53ccce0},    // mrs x0, ich_lr7_el2
		{"ICH_LR8_EL2", false, 0xd51ccd00},   // msr ich_lr8_el2, x0
		{"ICH_LR15_EL2", true, 0xd53ccde0},   // mrs x0, ich_lr15_el2
		{"ICH_AP0R0_EL2", false, 0xd51cc800}, // msr ich_ap0r0_el2, x0
		{"ICH_AP0R3_EL2", true, 0xd53cc860},  // mrs x0, ich_ap0r3_el2
		{"ICH_AP1R0_EL2", false, 0xd51cc900}, // msr ich_ap1r0_el2, x0
		{"ICH_AP1R3_EL2", true, 0xd53cc960},  // mrs x0, ich_ap1r3_el2
		{"ICC_IAR1_EL1", true, 0xd538cc00},   // mrs x0, icc_iar1_el1
		{"ICC_EOIR1_EL1", false, 0xd518cc20}, // msr icc_eoir1_el1, x0
		{"ICC_DIR_EL1", false, 0xd518cb20},   // msr icc_dir_el1, x0
	}
	for _, c := range cases {
		r, ok := byName[c.reg]
		if !ok {
			t.Fatalf("%s missing from the table", c.reg)
		}
		got := r.MSR(0)
		if c.mrs {
			got = r.MRS(0)
		}
		if got != c.want {
			t.Errorf("%s (mrs=%v) = %#08x, want %#08x", c.reg, c.mrs, got, c.want)
		}
	}
}

func TestRegisterNumberInEncoding(t *testing.T) {
	r := SysRegs[0]
	if r.MRS(5)&31 != 5 || r.MSR(30)&31 != 30 {
		t.Fatal("Rt not placed in bits [4:0]")
	}
}

// The committed accessors must be what the table renders: edit the table and
// run `go generate ./cpu`, never the generated files.
func TestGeneratedFilesUpToDate(t *testing.T) {
	asm, decl := Render(SysRegs)
	for name, want := range map[string][]byte{AsmFile: asm, DeclFile: decl, HeaderFile: RenderHeader(SysRegs, SysInsns)} {
		got, err := os.ReadFile(filepath.Join("..", "..", name))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("cpu/%s is stale: run go generate ./cpu", name)
		}
	}
}

func TestSysInsnEncodings(t *testing.T) {
	want := map[string]uint32{
		"DC_CVAC":           0xd50b7a20, // dc cvac, x0
		"DC_CIVAC":          0xd50b7e20, // dc civac, x0
		"IC_IALLU":          0xd508751f, // ic iallu
		"TLBI_ALLE2":        0xd50c871f, // tlbi alle2
		"TLBI_VMALLS12E1":   0xd50c87df, // tlbi vmalls12e1
		"TLBI_VMALLS12E1IS": 0xd50c83df, // tlbi vmalls12e1is
		"TLBI_IPAS2E1IS":    0xd50c8020, // tlbi ipas2e1is, x0
		"TLBI_VAAE1IS":      0xd5088360, // tlbi vaae1is, x0
		"TLBI_VMALLE1IS":    0xd508831f, // tlbi vmalle1is
		"IC_IALLUIS":        0xd508711f, // ic ialluis
	}
	for _, s := range SysInsns {
		rt := uint32(31) // no register
		if strings.HasPrefix(s.Name, "DC_") || s.Name == "TLBI_IPAS2E1IS" || s.Name == "TLBI_VAAE1IS" {
			rt = 0
		}
		w, ok := want[s.Name]
		if !ok {
			t.Errorf("%s has no known encoding to check against", s.Name)
			continue
		}
		if got := s.Encode(rt); got != w {
			t.Errorf("%s = %#08x, want %#08x", s.Name, got, w)
		}
	}
}

// Encodings from GNU as (aarch64-linux-gnu-as -march=armv8.2-a+sve).
func TestSVEEncodings(t *testing.T) {
	want := map[string]uint32{
		"SVE_STR_P0": 0xe5800000, "SVE_STR_P1": 0xe5800401, "SVE_STR_P8": 0xe5810008, "SVE_STR_P15": 0xe5811c0f,
		"SVE_LDR_P0": 0x85800000, "SVE_LDR_P1": 0x85800401, "SVE_LDR_P15": 0x85811c0f,
		"SVE_STR_P0_SLOT16": 0xe5820000, "SVE_LDR_P0_SLOT16": 0x85820000,
		"SVE_RDFFR_P0": 0x2519f000, "SVE_WRFFR_P0": 0x25289000, "SVE_RDVL_X0": 0x04bf5020,
	}
	got := map[string]uint32{}
	for _, i := range SVEInsns() {
		got[i.Name] = i.Enc
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s = %#08x, want %#08x", name, got[name], w)
		}
	}
}
