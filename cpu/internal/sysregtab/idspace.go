// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package sysregtab

import "fmt"

// The guest's ID registers and self-hosted debug registers, listed by rule
// rather than one line each: the ID registers Ferry reads to answer the
// guest's trapped reads (HCR_EL2.TID3), and the breakpoint and watchpoint
// registers a cpu.State carries.

// IDRegs are the ID registers (op0 3, op1 0, CRn 0, CRm 1..7) whose
// hardware value Ferry reads and sanitises for the guest (cpu/idregs.go),
// ARM ARM D23.2 (AArch64 ID registers) and D23.3/G8 (the AArch32 ones
// as seen from AArch64).
func IDRegs() []SysReg {
	id := func(name string, crm, op2 uint32, title string) SysReg {
		return ro(name, 3, 0, 0, crm, op2, "ARM ARM D23.2 "+name+", "+title)
	}
	return []SysReg{
		id("ID_PFR0_EL1", 1, 0, "AArch32 Processor Feature Register 0"),
		id("ID_PFR1_EL1", 1, 1, "AArch32 Processor Feature Register 1"),
		id("ID_DFR0_EL1", 1, 2, "AArch32 Debug Feature Register 0"),
		id("ID_MMFR0_EL1", 1, 4, "AArch32 Memory Model Feature Register 0"),
		id("ID_MMFR1_EL1", 1, 5, "AArch32 Memory Model Feature Register 1"),
		id("ID_MMFR2_EL1", 1, 6, "AArch32 Memory Model Feature Register 2"),
		id("ID_MMFR3_EL1", 1, 7, "AArch32 Memory Model Feature Register 3"),
		id("ID_ISAR0_EL1", 2, 0, "AArch32 Instruction Set Attribute Register 0"),
		id("ID_ISAR1_EL1", 2, 1, "AArch32 Instruction Set Attribute Register 1"),
		id("ID_ISAR2_EL1", 2, 2, "AArch32 Instruction Set Attribute Register 2"),
		id("ID_ISAR3_EL1", 2, 3, "AArch32 Instruction Set Attribute Register 3"),
		id("ID_ISAR4_EL1", 2, 4, "AArch32 Instruction Set Attribute Register 4"),
		id("ID_ISAR5_EL1", 2, 5, "AArch32 Instruction Set Attribute Register 5"),
		id("ID_MMFR4_EL1", 2, 6, "AArch32 Memory Model Feature Register 4"),
		id("ID_ISAR6_EL1", 2, 7, "AArch32 Instruction Set Attribute Register 6"),
		id("MVFR0_EL1", 3, 0, "AArch32 Media and VFP Feature Register 0"),
		id("MVFR1_EL1", 3, 1, "AArch32 Media and VFP Feature Register 1"),
		id("MVFR2_EL1", 3, 2, "AArch32 Media and VFP Feature Register 2"),
		id("ID_PFR2_EL1", 3, 4, "AArch32 Processor Feature Register 2"),
		id("ID_AA64ZFR0_EL1", 4, 4, "SVE Feature ID Register 0"),
	}
}

// DebugRegs are the self-hosted debug registers of a guest (ARM ARM D23.3,
// "Debug registers"): DBGBVR<n>/DBGBCR<n>_EL1 and DBGWVR<n>/DBGWCR<n>_EL1
// for n up to 15 (ID_AA64DFR0_EL1.BRPs and WRPs say how many the CPU has),
// the OS lock and double lock and the DCC interrupt enable.
func DebugRegs() []SysReg {
	var v []SysReg
	for n := uint32(0); n < 16; n++ {
		v = append(v,
			rw(fmt.Sprintf("DBGBVR%d_EL1", n), 2, 0, 0, n, 4, "ARM ARM D23.3 DBGBVR<n>_EL1, Debug Breakpoint Value Registers"),
			rw(fmt.Sprintf("DBGBCR%d_EL1", n), 2, 0, 0, n, 5, "ARM ARM D23.3 DBGBCR<n>_EL1, Debug Breakpoint Control Registers"),
			rw(fmt.Sprintf("DBGWVR%d_EL1", n), 2, 0, 0, n, 6, "ARM ARM D23.3 DBGWVR<n>_EL1, Debug Watchpoint Value Registers"),
			rw(fmt.Sprintf("DBGWCR%d_EL1", n), 2, 0, 0, n, 7, "ARM ARM D23.3 DBGWCR<n>_EL1, Debug Watchpoint Control Registers"))
	}
	return append(v,
		rw("MDCCINT_EL1", 2, 0, 0, 2, 0, "ARM ARM D23.3 MDCCINT_EL1, Monitor DCC Interrupt Enable Register"),
		SysReg{"OSLAR_EL1", 2, 0, 1, 0, 4, false, true, "ARM ARM D23.3 OSLAR_EL1, OS Lock Access Register"},
		ro("OSLSR_EL1", 2, 0, 1, 1, 4, "ARM ARM D23.3 OSLSR_EL1, OS Lock Status Register"),
		rw("OSDLR_EL1", 2, 0, 1, 3, 4, "ARM ARM D23.3 OSDLR_EL1, OS Double Lock Register"),
	)
}

// merge returns base followed by the registers of more whose names base
// does not have.
func merge(base []SysReg, more ...[]SysReg) []SysReg {
	have := map[string]bool{}
	for _, r := range base {
		have[r.Name] = true
	}
	for _, m := range more {
		for _, r := range m {
			if !have[r.Name] {
				have[r.Name] = true
				base = append(base, r)
			}
		}
	}
	return base
}
