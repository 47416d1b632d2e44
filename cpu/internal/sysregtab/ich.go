// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package sysregtab

import "fmt"

// ICHRegs are the GICv3 virtual CPU interface's numbered registers (IHI
// 0069 chapter 12): the 16 list registers, ICH_LR<n>_EL2 (CRm 12 for
// n < 8, 13 above), and the four active-priority registers of each group,
// ICH_AP0R<n>_EL2 and ICH_AP1R<n>_EL2. A CPU implements only some (ICH_VTR_EL2
// says how many); an access to another is UNDEFINED, so the binding never
// makes one.
func ICHRegs() []SysReg {
	var regs []SysReg
	for n := range uint32(16) {
		regs = append(regs, rw(fmt.Sprintf("ICH_LR%d_EL2", n), 3, 4, 12, 12+n/8, n%8,
			"GICv3 12 ICH_LR<n>_EL2, Interrupt Controller List Registers"))
	}
	for n := range uint32(4) {
		regs = append(regs, rw(fmt.Sprintf("ICH_AP0R%d_EL2", n), 3, 4, 12, 8, n,
			"GICv3 12 ICH_AP0R<n>_EL2, Interrupt Controller Hyp Active Priorities Group 0 Registers"))
	}
	for n := range uint32(4) {
		regs = append(regs, rw(fmt.Sprintf("ICH_AP1R%d_EL2", n), 3, 4, 12, 9, n,
			"GICv3 12 ICH_AP1R<n>_EL2, Interrupt Controller Hyp Active Priorities Group 1 Registers"))
	}
	return regs
}
