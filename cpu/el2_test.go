// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

import "testing"

// TestMDCR: the guest has every event counter, and with FEAT_PMUv3p1 its
// counters stop while Ferry runs at EL2 (HPMD), with FEAT_PMUv3p5 its cycle
// counter too (HCCD).
func TestMDCR(t *testing.T) {
	const pmcr = 6 << PMCR_N_Shift // six event counters
	cases := []struct {
		name   string
		pmuver uint64
		want   uint64
	}{
		{"no PMU", PMUVerNone, 0},
		{"IMPLEMENTATION DEFINED PMU", PMUVerImpDef, 0},
		{"PMUv3 (no HPMD)", 0x1, 6},
		{"PMUv3p1", PMUVer3p1, 6 | MDCR_HPMD},
		{"PMUv3p4", 0x5, 6 | MDCR_HPMD},
		{"PMUv3p5", PMUVer3p5, 6 | MDCR_HPMD | MDCR_HCCD},
		{"PMUv3p8 (QEMU max)", 0x8, 6 | MDCR_HPMD | MDCR_HCCD},
	}
	for _, c := range cases {
		if got := MDCR(c.pmuver<<DFR0_PMUVer_Shift, pmcr); got != c.want {
			t.Errorf("%s: MDCR_EL2 %#x, want %#x", c.name, got, c.want)
		}
	}
	if MDCR_HPMD != 1<<17 || MDCR_HCCD != 1<<23 {
		t.Fatal("MDCR_EL2.HPMD is bit 17, HCCD bit 23")
	}
}
