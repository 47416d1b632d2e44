// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"fmt"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/mmu"
)

const (
	// vtcrPS40 is VTCR_EL2.PS for a 40-bit physical address size.
	vtcrPS40 = 0b010
	// pmrAll is ICC_PMR_EL1 letting every priority through.
	pmrAll = 0xff
)

// NewMachine builds the machine d describes on this CPU (newMachine over
// the CPU's operations, its GIC and the device pages) and programs the
// EL2 controls for it. A machine with no guest yet (the receive role)
// waits for one: Run returns only once one is restored and started.
func NewMachine(d *Description, state GuestState, log func(string)) (*Machine, error) {
	// The ICH_*_EL2 registers need the system-register interface
	// (vcpuif.New reads ICH_VTR_EL2); configureEL2 sets the rest.
	cpu.WriteICC_SRE_EL2(cpu.ICC_SRE_SRE | cpu.ICC_SRE_DFB | cpu.ICC_SRE_DIB | cpu.ICC_SRE_Enable)
	cpu.ISB()
	fi := ProbeFirmware(cpu.SMC)
	if log != nil {
		log("firmware: " + fi.String())
	}
	// The stage-2 arena, sized by the board's RAM and devices.
	arena := make([]byte, (d.Stage2Pages()+2)*mmu.PageSize)
	var m *Machine // the components reach the vCPU's registers through it
	m, err := newMachine(d, state, log, machineParts{
		parts: parts{
			arena:   arena,
			arenaPA: uint64(uintptr(unsafe.Pointer(&arena[0]))), // Ferry's heap is identity-mapped: VA == PA
			dist:    gic.NewMMIO(d.GICD.Base, d.GICD.Size),
			redist:  gic.NewMMIO(d.GICR.Base, gic.GICR_FrameSize),
			frame: func(k int) gic.Regs {
				return gic.NewMMIO(d.GICR.Base+uint64(k)*gic.GICR_FrameSize, gic.GICR_FrameSize)
			},
			forward: func(base, size uint64) mmio.Device { return mmio.NewForward(base, size) },
			hw: stateHW{
				captureCPU:     func() *cpu.State { return cpu.Capture(&m.VCPU.Ctx) },
				restoreCPU:     func(s *cpu.State) error { return cpu.Restore(s, &m.VCPU.Ctx) },
				captureTimer:   cpu.CaptureTimer,
				restoreTimer:   cpu.RestoreTimer,
				captureVCPU:    cpu.Capture,
				restoreVCPU:    cpu.Restore,
				restoreTimerAt: cpu.RestoreTimerAt,
				timerOffset:    cpu.ReadCNTVOFF_EL2,
				uart:           mmio.NewForward(d.UART.Base, mmu.PageSize),
				console:        d.Console,
				dma:            virtiommio.Shadowing{Alloc: dmaAlloc, Fence: cpu.Fence},
			},
			relay: relayHW,
		},
		hw:       cpuHardware{},
		vif:      vifRegs{},
		idle:     NewDoorbell(),
		mgmt:     NewDoorbell(),
		midr:     cpu.ReadMIDR_EL1(),
		mpidr:    cpu.ReadMPIDR_EL1(),
		firmware: cpu.SMC,
		fwInfo:   fi,
		el1:      cpu.LiveEL1{},
	})
	if err != nil {
		return nil, err
	}
	m.onPower = m.power
	if err := m.configureEL2(); err != nil {
		return nil, err
	}
	// Each vCPU on the CPU whose redistributor frame its index is (the
	// frames' order is the region's, which need not be the DTB's).
	for k, a := range d.VCPUs {
		r := gic.NewMMIO(d.GICR.Base+uint64(k)*gic.GICR_FrameSize, gic.GICR_FrameSize)
		if got := gic.FrameAffinity(r); got != a {
			return nil, fmt.Errorf("machine: vCPU %d is the CPU with affinity %#x, but redistributor frame %d is %#x's", k, a, k, got)
		}
	}
	m.resetEL1 = func(v *VCPU) {
		cpu.WriteSCTLR_EL1(cpu.SCTLR_EL1Reset)
		cpu.WriteCNTVOFF_EL2(m.vtimeOff.Load()) // as vCPU 0's: one virtual count for the machine
		cpu.WriteVPIDR_EL2(cpu.ReadMIDR_EL1())
		cpu.WriteVMPIDR_EL2(v.MPIDR | m.VCPU.MPIDR&^cpu.MPIDRAffinity)
	}
	return m, nil
}

// SetupCPU sets up the calling CPU for a vCPU other than the first
// (RunVCPU): its EL2 controls as the boot CPU's (configureCPU), its
// redistributor with Ferry's SGI and PPIs (guard's frame), its virtual
// interface vif emptied and on.
func (m *Machine) SetupCPU(vif *vcpuif.VIF, guard *gic.Guard) error {
	cpu.WriteICC_SRE_EL2(cpu.ICC_SRE_SRE | cpu.ICC_SRE_DFB | cpu.ICC_SRE_DIB | cpu.ICC_SRE_Enable)
	cpu.ISB()
	if err := guard.SetupPrivate(); err != nil {
		return err
	}
	m.configureCPU(vif)
	return nil
}

// Boot points the vCPU at a freshly loaded kernel (arm64 boot protocol:
// EL1h, interrupts masked, MMU off, x0 = the DTB).
func (m *Machine) Boot(l *guest.Layout) {
	c := &m.VCPU.Ctx
	c.PC = l.Kernel
	c.PSTATE = cpu.SPSR_EL1h | cpu.SPSR_DAIF
	c.X[0] = l.DTB
	cpu.WriteSCTLR_EL1(cpu.SCTLR_EL1Reset)
	m.vtimeOff.Store(0)
	cpu.WriteCNTVOFF_EL2(0)
	cpu.WriteVPIDR_EL2(cpu.ReadMIDR_EL1())
	cpu.WriteVMPIDR_EL2(m.VCPU.MPIDR)
}

// configureEL2 programs the trap and translation controls for a thin
// guest: stage 2 on, SMC trapped, its timers, FP/SIMD and pointer
// authentication left to it, its reads of the ID registers trapped and
// answered (TID3: hyp/idregs.go). Every physical interrupt comes to EL2
// (IMO, FMO) and the guest's CPU-interface registers are the virtual
// ones.
func (m *Machine) configureEL2() error {
	pa, err := mmu.PARangeBits(cpu.ReadID_AA64MMFR0_EL1())
	if err != nil {
		return err
	}
	if pa < ipaBits {
		return fmt.Errorf("the CPU's physical address range is %d bits; Ferry needs %d", pa, ipaBits)
	}

	// The CPU the guest sees (TID3 below): what Ferry runs and moves.
	m.VCPU.IDs = cpu.ReadGuestIDs()
	m.VCPU.Translate = cpu.TranslateEL1Read
	for _, s := range m.cpus[min(1, len(m.cpus)):] {
		s.vcpu.IDs, s.vcpu.Translate = m.VCPU.IDs, cpu.TranslateEL1Read
	}
	m.configureCPU(m.vif)
	return nil
}

// configureCPU programs the calling CPU's EL2 controls for a vCPU whose
// virtual interface is vif: every CPU of the guest's the same.
func (m *Machine) configureCPU(vif *vcpuif.VIF) {
	cptr := uint64(cpu.CPTR_RES1)
	if cpu.Field(cpu.ReadID_AA64PFR0_EL1(), cpu.PFR0_SVE_Shift) == 0 {
		cptr |= cpu.CPTR_TZ // RES1 without SVE
	}
	if m.VCPU.IDs.Features()&cpu.FeatSME == 0 {
		cptr |= cpu.CPTR_TSM // hidden from the guest, so trapped (RES1 without SME)
	}
	cpu.WriteCPTR_EL2(cptr)
	// With SVE or SME the guest's vector length is capped at 128 bits
	// (ZCR_EL2.LEN = SMCR_EL2.LEN = 0): its Z registers are then exactly
	// the Q registers the world switch saves, so Ferry's own FP/SIMD use
	// never clobbers a guest vector.
	if cptr&cpu.CPTR_TZ == 0 {
		cpu.WriteZCR_EL2(0)
	}
	if cptr&cpu.CPTR_TSM == 0 {
		cpu.WriteSMCR_EL2(0)
	}

	var pmcr uint64
	if v := cpu.Field(cpu.ReadID_AA64DFR0_EL1(), cpu.DFR0_PMUVer_Shift); v != cpu.PMUVerNone && v != cpu.PMUVerImpDef {
		pmcr = cpu.ReadPMCR_EL0() // only read with an architected PMU
	}
	cpu.WriteMDCR_EL2(cpu.MDCR(cpu.ReadID_AA64DFR0_EL1(), pmcr)) // the guest's PMU, not counting at EL2

	cpu.WriteCNTHCTL_EL2(cpu.CNTHCTL_EL1PCTEN | cpu.CNTHCTL_EL1PCEN)
	cpu.WriteICC_SRE_EL2(cpu.ICC_SRE_SRE | cpu.ICC_SRE_DFB | cpu.ICC_SRE_DIB | cpu.ICC_SRE_Enable)
	cpu.WriteICH_HCR_EL2(0)
	cpu.WriteICC_PMR_EL1(pmrAll)
	// The physical CPU interface is Ferry's alone: its Group 1 on,
	// priority drop and deactivation apart (the guest's deactivation of a
	// HW-linked interrupt ends it); the guest's ICC_* accesses reach the
	// virtual interface (HCR_EL2.IMO and FMO).
	cpu.WriteICC_CTLR_EL1(cpu.ReadICC_CTLR_EL1() | gic.ICC_CTLR_EOImode)
	cpu.WriteICC_IGRPEN1_EL1(1)
	vif.Clear()
	vif.Enable()

	cpu.WriteVTCR_EL2(m.Stage2.VTCR(vtcrPS40))
	cpu.WriteVTTBR_EL2(m.Stage2.Root())
	cpu.FlushStage2()

	hcr := uint64(cpu.HCR_VM | cpu.HCR_SWIO | cpu.HCR_TSC | cpu.HCR_RW | cpu.HCR_IMO | cpu.HCR_FMO | cpu.HCR_TID3)
	if cpu.HasPAuth(cpu.ReadID_AA64ISAR1_EL1(), cpu.ReadID_AA64ISAR2_EL1()) {
		hcr |= cpu.HCR_API | cpu.HCR_APK
	}
	cpu.WriteHCR_EL2(hcr)
	cpu.DisarmHypTimer() // armed for Ferry's deadlines only
}
