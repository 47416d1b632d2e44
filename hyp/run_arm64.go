//go:build tamago && arm64

package hyp

import (
	"fmt"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/mmu"
)

// ipaBits is the guest's intermediate physical address size: 40 bits reach
// every device QEMU's virt board places (PCIe MMIO up to 1 TiB).
const ipaBits = 40

// vtcrPS40 is VTCR_EL2.PS for a 40-bit physical address size.
const vtcrPS40 = 0b010

// stage2Pages bounds the stage-2 tables: enough for 4 KiB pages over
// 4 GiB of RAM plus the device map.
const stage2Pages = 2048

// Machine is the guest and the EL2 state that runs it.
type Machine struct {
	VCPU   VCPU
	Layout *guest.Layout
	Stage2 *mmu.Stage2
	arena  []byte // backs the stage-2 tables (identity-mapped: VA == PA)
}

// NewMachine builds the guest's stage-2 tables from the layout.
func NewMachine(l *guest.Layout, log func(string)) (*Machine, error) {
	m := &Machine{Layout: l}
	m.arena = make([]byte, (stage2Pages+2)*mmu.PageSize)
	base := uint64(uintptr(unsafe.Pointer(&m.arena[0])))
	skip := (2*mmu.PageSize - base%(2*mmu.PageSize)) % (2 * mmu.PageSize)
	a, err := mmu.NewArena(m.arena[skip:skip+stage2Pages*mmu.PageSize], base+skip)
	if err != nil {
		return nil, err
	}
	if m.Stage2, err = mmu.NewStage2(a, ipaBits); err != nil {
		return nil, err
	}
	for _, r := range l.Stage2 {
		attr := mmu.S2Normal
		if r.Device {
			attr = mmu.S2Device
		}
		if err := m.Stage2.Map(r.Base, r.Base, r.Size, attr); err != nil {
			return nil, fmt.Errorf("stage 2: %w", err)
		}
	}
	m.VCPU = VCPU{
		MPIDR:    cpu.ReadMPIDR_EL1(),
		Firmware: cpu.SMC,
		Log:      log,
	}
	c := &m.VCPU.Ctx
	c.PC = l.Kernel
	c.PSTATE = cpu.SPSR_EL1h | cpu.SPSR_DAIF
	c.X[0] = l.DTB
	return m, nil
}

// configureEL2 programs the trap and translation controls for a thin
// guest: stage 2 on, SMC trapped, interrupts, timers, FP/SIMD, pointer
// authentication and the GIC CPU interface left to the guest.
func (m *Machine) configureEL2() error {
	pa, err := mmu.PARangeBits(cpu.ReadID_AA64MMFR0_EL1())
	if err != nil {
		return err
	}
	if pa < ipaBits {
		return fmt.Errorf("the CPU's physical address range is %d bits; Ferry needs %d", pa, ipaBits)
	}

	cptr := uint64(cpu.CPTR_RES1)
	if cpu.Field(cpu.ReadID_AA64PFR0_EL1(), cpu.PFR0_SVE_Shift) == 0 {
		cptr |= cpu.CPTR_TZ // RES1 without SVE
	}
	if cpu.Field(cpu.ReadID_AA64PFR1_EL1(), cpu.PFR1_SME_Shift) == 0 {
		cptr |= cpu.CPTR_TSM // RES1 without SME
	}
	cpu.WriteCPTR_EL2(cptr)

	var mdcr uint64
	if v := cpu.Field(cpu.ReadID_AA64DFR0_EL1(), cpu.DFR0_PMUVer_Shift); v != 0 && v != 0xf {
		mdcr = cpu.ReadPMCR_EL0() >> 11 & 0x1f // HPMN = PMCR_EL0.N: every counter to the guest
	}
	cpu.WriteMDCR_EL2(mdcr)

	cpu.WriteCNTHCTL_EL2(cpu.CNTHCTL_EL1PCTEN | cpu.CNTHCTL_EL1PCEN)
	cpu.WriteCNTVOFF_EL2(0)
	cpu.WriteVPIDR_EL2(cpu.ReadMIDR_EL1())
	cpu.WriteVMPIDR_EL2(m.VCPU.MPIDR)
	cpu.WriteICC_SRE_EL2(cpu.ICC_SRE_SRE | cpu.ICC_SRE_DFB | cpu.ICC_SRE_DIB | cpu.ICC_SRE_Enable)
	cpu.WriteICH_HCR_EL2(0)
	cpu.WriteSCTLR_EL1(cpu.SCTLR_EL1Reset)

	cpu.WriteVTCR_EL2(m.Stage2.VTCR(vtcrPS40))
	cpu.WriteVTTBR_EL2(m.Stage2.Root())
	cpu.FlushStage2()

	hcr := uint64(cpu.HCR_VM | cpu.HCR_SWIO | cpu.HCR_TSC | cpu.HCR_RW)
	if cpu.HasPAuth(cpu.ReadID_AA64ISAR1_EL1(), cpu.ReadID_AA64ISAR2_EL1()) {
		hcr |= cpu.HCR_API | cpu.HCR_APK
	}
	cpu.WriteHCR_EL2(hcr)
	return nil
}

// Run starts the guest and handles its exits until one cannot be handled.
func (m *Machine) Run() error {
	if err := m.configureEL2(); err != nil {
		return err
	}
	for {
		reason := cpu.Enter(&m.VCPU.Ctx)
		if err := m.VCPU.Dispatch(reason); err != nil {
			return err
		}
	}
}
