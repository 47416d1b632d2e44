//go:build tamago && arm64

package hyp

import (
	"fmt"
	"runtime"
	"runtime/goos"
	"sync/atomic"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmu"
)

const (
	// vtcrPS40 is VTCR_EL2.PS for a 40-bit physical address size.
	vtcrPS40 = 0b010
	// pmrAll is ICC_PMR_EL1 letting every priority through.
	pmrAll = 0xff
)

// Machine is the guest and the EL2 state that runs it, built from its
// machine description.
type Machine struct {
	VCPU   VCPU
	Ctl    *Control
	Desc   *Description
	Stage2 *mmu.Stage2
	Bus    mmio.Bus
	GIC    *gic.Guard

	reg       Registry // the migratable components
	tickINTID uint32
	tickEvery uint64 // counter ticks between two of Ferry's ticks
	exits     atomic.Uint64
	arena     []byte          // backs the stage-2 tables (identity-mapped: VA == PA)
	written   *dirty.Bitmap   // guest pages an incoming migration wrote
	captured  []migrate.State // the guest's state at the last pause
	trk       tracking        // dirty tracking and CPU sharing while migrating
}

// NewMachine builds the machine d describes: the guest's stage-2 tables,
// the guard over the GIC keeping Ferry's interrupts, the trapped pages on
// the MMIO bus and the registry of migratable components; and it takes
// Ferry's tick (every tickNS) from the GIC. A machine with no guest yet
// (the receive role) waits for one: Run returns only once one is restored
// and started.
func NewMachine(d *Description, tickNS int64, state GuestState, log func(string)) (*Machine, error) {
	m := &Machine{Desc: d, Ctl: NewControl(state), tickINTID: d.Tick, tickEvery: cpu.Ticks(tickNS)}
	m.arena = make([]byte, (stage2Pages+2)*mmu.PageSize)
	a, err := assemble(d, parts{
		arena:   m.arena,
		arenaPA: uint64(uintptr(unsafe.Pointer(&m.arena[0]))), // Ferry's heap is identity-mapped: VA == PA
		dist:    gic.NewMMIO(d.GICD.Base, d.GICD.Size),
		redist:  gic.NewMMIO(d.GICR.Base, gic.GICR_FrameSize),
		forward: func(base, size uint64) mmio.Device { return mmio.NewForward(base, size) },
		hw: hardware{
			captureCPU:   func() *cpu.State { return cpu.Capture(&m.VCPU.Ctx) },
			restoreCPU:   func(s *cpu.State) error { return cpu.Restore(s, &m.VCPU.Ctx) },
			captureTimer: cpu.CaptureTimer,
			restoreTimer: cpu.RestoreTimer,
			gicCPU:       gic.SysRegs{},
			uart:         mmio.NewForward(d.UART.Base, mmu.PageSize),
			console:      d.Console,
			log:          log,
		},
	})
	if err != nil {
		return nil, err
	}
	m.Stage2, m.GIC, m.Bus, m.reg = a.stage2, a.guard, a.bus, a.reg
	m.Stage2.SetTLB(cpu.Stage2TLB{})
	m.written = dirty.New(m.pages())
	m.VCPU = VCPU{
		MPIDR:       cpu.ReadMPIDR_EL1(),
		Firmware:    cpu.SMC,
		Log:         log,
		MMIO:        m.Bus.Handle,
		WriteFault:  m.writeFault,
		Idle:        m.guestIdle,
		WriteSysReg: func(name string, v uint64) { cpu.WriteSysReg(name, v) },
		Tick:        m.tick,
	}
	if err := m.configureEL2(); err != nil {
		return nil, err
	}
	return m, nil
}

// pages is the number of pages from the first RAM range's base to the end
// of the last: the index space of the dirty log and of the written set.
func (m *Machine) pages() uint64 {
	ram := m.Desc.RAM
	return (ram[len(ram)-1].End() - ram[0].Base) / mmu.PageSize
}

// Boot points the vCPU at a freshly loaded kernel (arm64 boot protocol:
// EL1h, interrupts masked, MMU off, x0 = the DTB).
func (m *Machine) Boot(l *guest.Layout) {
	c := &m.VCPU.Ctx
	c.PC = l.Kernel
	c.PSTATE = cpu.SPSR_EL1h | cpu.SPSR_DAIF
	c.X[0] = l.DTB
	cpu.WriteSCTLR_EL1(cpu.SCTLR_EL1Reset)
	cpu.WriteCNTVOFF_EL2(0)
	cpu.WriteVPIDR_EL2(cpu.ReadMIDR_EL1())
	cpu.WriteVMPIDR_EL2(m.VCPU.MPIDR)
}

// configureEL2 programs the trap and translation controls for a thin
// guest: stage 2 on, SMC trapped, the guest's interrupts, timers, FP/SIMD,
// pointer authentication and the GIC CPU interface left to it; FIQs
// (Group 0: only Ferry's tick) come to EL2.
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

	var mdcr uint64
	if v := cpu.Field(cpu.ReadID_AA64DFR0_EL1(), cpu.DFR0_PMUVer_Shift); v != cpu.PMUVerNone && v != cpu.PMUVerImpDef {
		mdcr = cpu.ReadPMCR_EL0() >> cpu.PMCR_N_Shift & cpu.PMCR_N_Mask // HPMN = PMCR_EL0.N: every counter to the guest
	}
	cpu.WriteMDCR_EL2(mdcr)

	cpu.WriteCNTHCTL_EL2(cpu.CNTHCTL_EL1PCTEN | cpu.CNTHCTL_EL1PCEN)
	cpu.WriteICC_SRE_EL2(cpu.ICC_SRE_SRE | cpu.ICC_SRE_DFB | cpu.ICC_SRE_DIB | cpu.ICC_SRE_Enable)
	cpu.WriteICH_HCR_EL2(0)
	// The physical CPU interface's priority mask and Group 0 enable are
	// Ferry's: with HCR_EL2.FMO set the guest writes the virtual ones.
	cpu.WriteICC_PMR_EL1(pmrAll)
	cpu.WriteICC_CTLR_EL1(cpu.ReadICC_CTLR_EL1() &^ gic.ICC_CTLR_EOImode)
	cpu.WriteICC_IGRPEN0_EL1(1)

	cpu.WriteVTCR_EL2(m.Stage2.VTCR(vtcrPS40))
	cpu.WriteVTTBR_EL2(m.Stage2.Root())
	cpu.FlushStage2()

	hcr := uint64(cpu.HCR_VM | cpu.HCR_SWIO | cpu.HCR_TSC | cpu.HCR_RW | cpu.HCR_FMO)
	if cpu.HasPAuth(cpu.ReadID_AA64ISAR1_EL1(), cpu.ReadID_AA64ISAR2_EL1()) {
		hcr |= cpu.HCR_API | cpu.HCR_APK
	}
	cpu.WriteHCR_EL2(hcr)
	m.armTick()
	return nil
}

func (m *Machine) armTick() { cpu.ArmHypTimer(cpu.ReadCNTPCT_EL0() + m.tickEvery) }

// tick handles Ferry's FIQ: acknowledge, re-arm the timer (its output is
// level: it stays asserted until the compare value moves), end it.
func (m *Machine) tick() {
	id := cpu.AckGroup0()
	if id == m.tickINTID {
		m.armTick()
	}
	cpu.EndGroup0(id)
}

// Idle is the Go scheduler's idle hook while the guest is not running
// (waiting for one, or paused): sleep until the next Go timer is due or
// the next tick, whichever is first.
func (m *Machine) Idle(until int64) {
	now := cpu.ReadCNTPCT_EL0()
	at := now + m.tickEvery
	if until > 0 {
		d := until - cpu.Nanotime()
		if d <= 0 {
			return
		}
		if due := cpu.Ticks(d); due < m.tickEvery {
			at = now + due
		}
	}
	cpu.ArmHypTimer(at)
	cpu.WaitForInterrupt()
	m.tick()
}

// InstallIdle makes Idle the Go scheduler's idle hook.
func (m *Machine) InstallIdle() { goos.Idle = m.Idle }

// quiesce silences a guest that will not run here again: its timers and
// its Group 1 interrupts no longer wake the CPU from Ferry's idle WFI.
func quiesce() {
	cpu.WriteCNTV_CTL_EL0(0)
	cpu.WriteCNTP_CTL_EL0(0)
	cpu.WriteICC_IGRPEN1_EL1(0)
}

// Run runs the guest: enter it, handle the exit, repeat, letting Ferry's
// other goroutines run at every tick and stopping when Control says so.
// When the guest has been migrated away (or before one arrives) it waits
// for the next one to be migrated here. It returns only when the guest
// cannot go on.
func (m *Machine) Run() error {
	if m.Ctl.State() == GuestNone {
		m.Ctl.WaitForGuest()
	}
	for {
		if !m.Ctl.Checkpoint() {
			// Given up: it runs elsewhere now. Its memory here is stale, so
			// a guest migrated back must have every page written, zero
			// pages included.
			quiesce()
			m.written.SetAll()
			m.Ctl.WaitForGuest()
			continue
		}
		reason := cpu.Enter(&m.VCPU.Ctx)
		m.exits.Add(1)
		if err := m.VCPU.Dispatch(reason); err != nil {
			if m.trk.on {
				m.untrack()
			}
			quiesce()
			m.Ctl.Stop(err)
			return err
		}
		switch {
		case reason != cpu.ExitFIQ:
		case m.trk.on:
			m.slice(ferrySlice)
		default:
			runtime.Gosched()
		}
	}
}

// Exits is how many times the guest exited to Ferry.
func (m *Machine) Exits() uint64 { return m.exits.Load() }
