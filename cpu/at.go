// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package cpu

// PAR_EL1 after an address translation instruction (ARM ARM D23.2
// PAR_EL1, Physical Address Register): F set when the translation
// aborted; else the output address in bits [51:12].
const (
	PARFault  = 1 << 0
	parPAMask = 0x000f_ffff_ffff_f000
)

// PARToIPA is the address va translated to, from PAR_EL1 after an AT
// S1E1R of it: the output page and va's offset in it; ok false when PAR
// reports an abort.
func PARToIPA(par, va uint64) (ipa uint64, ok bool) {
	if par&PARFault != 0 {
		return 0, false
	}
	return par&parPAMask | va&0xfff, true
}
