// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

// atS1E1R translates va through the guest's stage 1 as an EL1 read (AT
// S1E1R, ARM ARM C5.5 "A64 system instructions for address translation")
// and returns PAR_EL1, leaving the guest's PAR_EL1 as it was: the guest's
// EL1 registers are live while Ferry runs (HCR_EL2.E2H = 0).
func atS1E1R(va uint64) (par uint64)

// TranslateEL1Read is the IPA of va under the guest's stage 1, as the
// IPA of a stage-2 permission fault whose HPFAR_EL2 the ARM ARM leaves
// UNKNOWN; ok false when va does not translate.
func TranslateEL1Read(va uint64) (ipa uint64, ok bool) {
	return PARToIPA(atS1E1R(va), va)
}
