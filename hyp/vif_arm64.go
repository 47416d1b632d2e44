// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import "github.com/ferry-hv/ferry/cpu"

// vifRegs is the virtual CPU interface through the ICH_*_EL2 system
// registers, and ICC_DIR_EL1 (vcpuif.Regs). A write the policy reads back
// through another register (a list register through ICH_ELRSR_EL2) is
// followed by an ISB.
type vifRegs struct{}

func (vifRegs) VTR() uint64             { return cpu.ReadICH_VTR_EL2() }
func (vifRegs) ELRSR() uint64           { return cpu.ReadICH_ELRSR_EL2() }
func (vifRegs) HCR() uint64             { return cpu.ReadICH_HCR_EL2() }
func (vifRegs) SetHCR(v uint64)         { cpu.WriteICH_HCR_EL2(v); cpu.ISB() }
func (vifRegs) MISR() uint64            { return cpu.ReadICH_MISR_EL2() }
func (vifRegs) VMCR() uint64            { return cpu.ReadICH_VMCR_EL2() }
func (vifRegs) SetVMCR(v uint64)        { cpu.WriteICH_VMCR_EL2(v) }
func (vifRegs) Deactivate(intid uint32) { cpu.DeactivateInterrupt(intid) }

func (vifRegs) LR(n int) uint64 {
	switch n {
	case 0:
		return cpu.ReadICH_LR0_EL2()
	case 1:
		return cpu.ReadICH_LR1_EL2()
	case 2:
		return cpu.ReadICH_LR2_EL2()
	case 3:
		return cpu.ReadICH_LR3_EL2()
	case 4:
		return cpu.ReadICH_LR4_EL2()
	case 5:
		return cpu.ReadICH_LR5_EL2()
	case 6:
		return cpu.ReadICH_LR6_EL2()
	case 7:
		return cpu.ReadICH_LR7_EL2()
	case 8:
		return cpu.ReadICH_LR8_EL2()
	case 9:
		return cpu.ReadICH_LR9_EL2()
	case 10:
		return cpu.ReadICH_LR10_EL2()
	case 11:
		return cpu.ReadICH_LR11_EL2()
	case 12:
		return cpu.ReadICH_LR12_EL2()
	case 13:
		return cpu.ReadICH_LR13_EL2()
	case 14:
		return cpu.ReadICH_LR14_EL2()
	case 15:
		return cpu.ReadICH_LR15_EL2()
	}
	return 0
}

func (vifRegs) SetLR(n int, v uint64) {
	switch n {
	case 0:
		cpu.WriteICH_LR0_EL2(v)
	case 1:
		cpu.WriteICH_LR1_EL2(v)
	case 2:
		cpu.WriteICH_LR2_EL2(v)
	case 3:
		cpu.WriteICH_LR3_EL2(v)
	case 4:
		cpu.WriteICH_LR4_EL2(v)
	case 5:
		cpu.WriteICH_LR5_EL2(v)
	case 6:
		cpu.WriteICH_LR6_EL2(v)
	case 7:
		cpu.WriteICH_LR7_EL2(v)
	case 8:
		cpu.WriteICH_LR8_EL2(v)
	case 9:
		cpu.WriteICH_LR9_EL2(v)
	case 10:
		cpu.WriteICH_LR10_EL2(v)
	case 11:
		cpu.WriteICH_LR11_EL2(v)
	case 12:
		cpu.WriteICH_LR12_EL2(v)
	case 13:
		cpu.WriteICH_LR13_EL2(v)
	case 14:
		cpu.WriteICH_LR14_EL2(v)
	case 15:
		cpu.WriteICH_LR15_EL2(v)
	}
	cpu.ISB()
}

func (vifRegs) AP0R(n int) uint64 {
	switch n {
	case 0:
		return cpu.ReadICH_AP0R0_EL2()
	case 1:
		return cpu.ReadICH_AP0R1_EL2()
	case 2:
		return cpu.ReadICH_AP0R2_EL2()
	case 3:
		return cpu.ReadICH_AP0R3_EL2()
	}
	return 0
}

func (vifRegs) SetAP0R(n int, v uint64) {
	switch n {
	case 0:
		cpu.WriteICH_AP0R0_EL2(v)
	case 1:
		cpu.WriteICH_AP0R1_EL2(v)
	case 2:
		cpu.WriteICH_AP0R2_EL2(v)
	case 3:
		cpu.WriteICH_AP0R3_EL2(v)
	}
}

func (vifRegs) AP1R(n int) uint64 {
	switch n {
	case 0:
		return cpu.ReadICH_AP1R0_EL2()
	case 1:
		return cpu.ReadICH_AP1R1_EL2()
	case 2:
		return cpu.ReadICH_AP1R2_EL2()
	case 3:
		return cpu.ReadICH_AP1R3_EL2()
	}
	return 0
}

func (vifRegs) SetAP1R(n int, v uint64) {
	switch n {
	case 0:
		cpu.WriteICH_AP1R0_EL2(v)
	case 1:
		cpu.WriteICH_AP1R1_EL2(v)
	case 2:
		cpu.WriteICH_AP1R2_EL2(v)
	case 3:
		cpu.WriteICH_AP1R3_EL2(v)
	}
}
