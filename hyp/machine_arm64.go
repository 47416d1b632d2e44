// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"fmt"
	"runtime/goos"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/migrate"
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

// Machine is the guest and the EL2 state that runs it, built from its
// machine description.
type Machine struct {
	VCPU   VCPU
	Ctl    *Control
	Desc   *Description
	Stage2 *mmu.Stage2
	Bus    mmio.Bus
	GIC    *gic.Guard
	// FirmwareDTB is the board's DTB, from which the guest's is made again
	// when it restarts (power_arm64.go).
	FirmwareDTB []byte

	// NICs are the guest's NICs, each behind Ferry's model of its
	// transport.
	NICs []NIC

	reg     Registry // the migratable components
	nicStop *nicStop // how the next pause stops the guest's NICs' devices
	// OnNIC takes the management NIC's interrupt (acknowledges it at the
	// device, wakes the NIC's goroutine); it runs on the vCPU goroutine or
	// in the idle hook, so it must not block.
	OnNIC    func()
	idle     Doorbell // the vCPU goroutine, waiting for Ferry's goroutines to be idle
	idleWait bool     // it waits there
	busy     bool     // Yield ended its wait: Ferry's share was used, its goroutines not idle
	share    Share    // Ferry's share of the CPU outside a migration (share.go)
	deadline int64    // the next Go timer when the scheduler last went idle (Nanotime; 0: none)
	fired    bool     // the last interrupt exit included the EL2 timer's
	ferryIRQ bool     // the last interrupt exit included one of Ferry's (its timer, its NIC)
	// vif is the guest's virtual CPU interface and irq the interrupt path
	// through it (irq.go).
	vif      *vcpuif.VIF
	irq      irqPath
	rearm    bool // Idle armed the timer for its own sleep since the guest's deadline was set
	exits    atomic.Uint64
	arena    []byte          // backs the stage-2 tables (identity-mapped: VA == PA)
	written  *dirty.Bitmap   // guest pages an incoming migration wrote
	captured []migrate.State // the guest's state at the last pause
	discard  *discarder      // forgets an incoming guest that will not run here
	trk      tracking        // dirty tracking and CPU sharing while migrating
}

// NewMachine builds the machine d describes: the guest's stage-2 tables,
// the guard over the GIC keeping Ferry's interrupts (its EL2 timer, its
// NIC), the trapped pages on the MMIO bus and the registry of migratable
// components. A machine with no guest yet (the receive role) waits for
// one: Run returns only once one is restored and started.
func NewMachine(d *Description, state GuestState, log func(string)) (*Machine, error) {
	m := &Machine{Desc: d, Ctl: NewControl(state)}
	m.arena = make([]byte, (stage2Pages+2)*mmu.PageSize)
	// The ICH_*_EL2 registers need the system-register interface (New
	// reads ICH_VTR_EL2); configureEL2 sets the rest.
	cpu.WriteICC_SRE_EL2(cpu.ICC_SRE_SRE | cpu.ICC_SRE_DFB | cpu.ICC_SRE_DIB | cpu.ICC_SRE_Enable)
	cpu.ISB()
	m.vif = vcpuif.New(vifRegs{})
	a, err := assemble(d, parts{
		arena:   m.arena,
		arenaPA: uint64(uintptr(unsafe.Pointer(&m.arena[0]))), // Ferry's heap is identity-mapped: VA == PA
		dist:    gic.NewMMIO(d.GICD.Base, d.GICD.Size),
		redist:  gic.NewMMIO(d.GICR.Base, gic.GICR_FrameSize),
		forward: func(base, size uint64) mmio.Device { return mmio.NewForward(base, size) },
		hw: stateHW{
			captureCPU:   func() *cpu.State { return cpu.Capture(&m.VCPU.Ctx) },
			restoreCPU:   func(s *cpu.State) error { return cpu.Restore(s, &m.VCPU.Ctx) },
			captureTimer: cpu.CaptureTimer,
			restoreTimer: cpu.RestoreTimer,
			quiesce:      m.quiesce,
			vif:          m.vif,
			uart:         mmio.NewForward(d.UART.Base, mmu.PageSize),
			console:      d.Console,
			dma: virtiommio.Shadowing{
				Guest: guestRAM{m},
				InRAM: m.inRAMRange,
				Alloc: dmaAlloc,
				Wrote: m.dmaWrote,
				Fence: cpu.Fence,
			},
			log: log,
		},
	})
	if err != nil {
		return nil, err
	}
	m.Stage2, m.GIC, m.Bus, m.reg, m.NICs, m.nicStop = a.stage2, a.guard, a.bus, a.reg, a.nics, a.stop
	m.discard = a.discard
	m.irq = irqPath{
		phys: physRegs{}, vif: m.vif,
		priority: m.GIC.Priority, enabled: m.GIC.Enabled,
		tick: d.Tick, nic: d.NIC, maint: d.Maint,
		onTick: cpu.DisarmHypTimer,
		onNIC: func() {
			if m.OnNIC != nil {
				m.OnNIC()
			}
		},
	}
	m.Stage2.SetTLB(cpu.Stage2TLB{})
	m.written = dirty.New(m.pages())
	fi := ProbeFirmware(cpu.SMC)
	if log != nil {
		log("firmware: " + fi.String())
	}
	m.VCPU = VCPU{
		MPIDR:        cpu.ReadMPIDR_EL1(),
		Firmware:     cpu.SMC,
		FirmwareInfo: fi,
		Log:          log,
		MMIO:         m.Bus.Handle,
		WriteFault:   m.writeFault,
		Idle:         m.guestIdle,
		Standby:      m.guestStandby,
		IRQ:          m.interrupt,
		InRAM:        func(ipa uint64) bool { return m.inRAMRange(ipa, 1) },
		EL1:          cpu.LiveEL1{},
	}
	m.VCPU.SGI = func(v uint64) { m.irq.sgi(v, m.VCPU.MPIDR) }
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
	m.vif.Clear()
	m.vif.Enable()

	cpu.WriteVTCR_EL2(m.Stage2.VTCR(vtcrPS40))
	cpu.WriteVTTBR_EL2(m.Stage2.Root())
	cpu.FlushStage2()

	hcr := uint64(cpu.HCR_VM | cpu.HCR_SWIO | cpu.HCR_TSC | cpu.HCR_RW | cpu.HCR_IMO | cpu.HCR_FMO | cpu.HCR_TID3)
	if cpu.HasPAuth(cpu.ReadID_AA64ISAR1_EL1(), cpu.ReadID_AA64ISAR2_EL1()) {
		hcr |= cpu.HCR_API | cpu.HCR_APK
	}
	cpu.WriteHCR_EL2(hcr)
	cpu.DisarmHypTimer() // armed for Ferry's deadlines only
	return nil
}

// maxDeadline bounds how far ahead the EL2 timer is armed: a Go timer
// further away (time.Sleep(math.MaxInt64) is one) is re-armed from there.
const maxDeadline = int64(time.Hour)

// arm sets the EL2 timer for until (Nanotime), or turns it off when there
// is no deadline (0).
func arm(until int64) {
	if until <= 0 {
		cpu.DisarmHypTimer()
		return
	}
	d := min(max(until-cpu.Nanotime(), 0), maxDeadline)
	cpu.ArmHypTimer(cpu.ReadCNTPCT_EL0() + cpu.Ticks(d))
}

// interrupt takes an interrupt exit, or the interrupts pending when
// Ferry's idle WFI ends (irq.go).
func (m *Machine) interrupt() Cause {
	c := m.irq.take()
	m.fired = m.irq.fired
	m.ferryIRQ = c == CauseTimer || c == CauseNIC
	return c
}

// Idle is the Go scheduler's idle hook (goos.Idle): it runs when no
// goroutine of Ferry's can run, with until the next Go timer (0: none).
// If the vCPU goroutine is waiting for that moment it is woken to enter
// the guest with the EL2 timer armed for until: the guest has the CPU
// until Ferry has something to do. Otherwise (no guest yet, a paused one,
// a migration's slice) the CPU sleeps in WFI until until or Ferry's NIC.
func (m *Machine) Idle(until int64) {
	if m.idleWait {
		m.idleWait = false
		m.deadline = until
		m.idle.Ring()
		return
	}
	if until > 0 && until <= cpu.Nanotime() {
		return
	}
	m.rearm = true
	arm(until)
	cpu.WaitForInterrupt()
	m.interrupt()
}

// waitIdle lends the CPU to Ferry's goroutines until none can run, or
// until they used their share (Yield), then arms the EL2 timer for
// Ferry's next deadline, or the end of the guest's slice (share.go).
func (m *Machine) waitIdle() {
	m.idleWait, m.busy = true, false
	m.share.Wait(cpu.Nanotime())
	m.idle.Wait()
	m.rearm = false
	if m.trk.on {
		m.armSlice()
		return
	}
	until, slice := m.share.Enter(cpu.Nanotime(), !m.busy, m.deadline)
	// In a slice the guest's WFI traps (guestIdle), to give the CPU
	// back early; otherwise it is the guest's own.
	if hcr := cpu.ReadHCR_EL2(); slice != (hcr&cpu.HCR_TWI != 0) {
		cpu.WriteHCR_EL2(hcr ^ cpu.HCR_TWI)
	}
	arm(until)
}

// armSlice arms the guest's slice while tracking.
func (m *Machine) armSlice() {
	cpu.ArmHypTimer(cpu.ReadCNTPCT_EL0() + cpu.Ticks(int64(m.trk.guest)))
}

// wake ends a waitIdle early (a migration starts tracking: from now on
// the guest and Ferry share the CPU in slices, and Ferry's goroutines may
// never be idle).
func (m *Machine) wake() {
	if m.idleWait {
		m.idleWait = false
		m.deadline = 0
		m.idle.Ring()
	}
}

// rearmGuest gives the guest back a deadline after the vCPU goroutine
// slept (paused, or resting for a migration's slice) and Idle used the
// timer meanwhile: the guest's slice while tracking, else Ferry's next
// deadline once its goroutines are idle again.
func (m *Machine) rearmGuest() {
	switch {
	case !m.rearm:
	case m.trk.on:
		m.rearm = false
		m.armSlice()
	default:
		m.waitIdle()
	}
}

// guestStandby is the wait of the guest's CPU_SUSPEND, which Ferry serves
// as a standby (psci.go): the CPU waits as at the guest's WFI. Where that
// WFI traps (HCR_EL2.TWI: a migration, a slice the guest was owed) it is
// the trapped WFI's (guestIdle); otherwise the CPU waits in WFI at EL2,
// which any physical interrupt ends -- the guest's (taken at its next
// entry), Ferry's EL2 timer (armed for Ferry's next deadline when the
// guest was entered), its NIC -- unless the guest already has a virtual
// interrupt to take (one listed wakes only a WFI at EL1).
func (m *Machine) guestStandby() {
	switch {
	case cpu.ReadHCR_EL2()&cpu.HCR_TWI != 0:
		m.guestIdle()
	case m.vif.GuestPending():
	default:
		cpu.WaitForInterrupt()
	}
}

// InstallIdle makes Idle the Go scheduler's idle hook.
func (m *Machine) InstallIdle() { goos.Idle = m.Idle }

// quiesce silences a guest that will not run here again: its timers no
// longer wake the CPU from Ferry's idle WFI, every interrupt Ferry
// acknowledged for it is ended and its virtual CPU interface emptied
// (vcpuif.VIF.Reset), ready for another guest.
func (m *Machine) quiesce() {
	cpu.WriteCNTV_CTL_EL0(0)
	cpu.WriteCNTP_CTL_EL0(0)
	m.vif.Reset()
}

// Run runs the guest: enter it, handle the exit, repeat, letting Ferry's
// other goroutines run whenever one of Ferry's interrupts (its timer, its
// NIC) takes the CPU back, and stopping when Control says so. The guest is
// entered only when Ferry's goroutines are idle, with the EL2 timer armed
// for their next deadline.
// When the guest has been migrated away (or before one arrives) it waits
// for the next one to be migrated here. It returns only when the guest
// cannot go on.
func (m *Machine) Run() error {
	if m.Ctl.State() == GuestNone {
		m.Ctl.WaitForGuest()
	}
	m.waitIdle()
	for {
		if !m.Ctl.Checkpoint() {
			// Given up: it runs elsewhere now. Its memory here is stale, so
			// a guest migrated back must have every page written, zero
			// pages included.
			m.quiesce()
			m.written.SetAll()
			m.Ctl.WaitForGuest()
			m.waitIdle()
			continue
		}
		m.rearmGuest()
		m.vif.Refill()
		reason := cpu.Enter(&m.VCPU.Ctx)
		m.exits.Add(1)
		if err := m.VCPU.Dispatch(reason); err != nil {
			if p, ok := err.(*PowerRequest); ok {
				if err := m.power(p); err != nil { // power_arm64.go
					return err
				}
				continue // restarted
			}
			if m.trk.on {
				m.untrack()
			}
			m.quiesce()
			m.Ctl.Stop(err)
			return err
		}
		ferry := (reason == cpu.ExitFIQ || reason == cpu.ExitIRQ) && m.ferryIRQ
		m.ferryIRQ = false
		switch {
		case m.trk.on:
			if ferry && m.fired {
				// The guest's slice is over.
				m.slice(ferrySlice)
			}
			// The NIC, during the guest's slice: its goroutine runs in
			// Ferry's next slice.
		case m.share.Exit(cpu.Nanotime(), ferry, m.fired):
			m.waitIdle()
		}
	}
}

// NICFaults are the guest's NICs' faults (virtiommio.Transport.Faults),
// each after its transport's address.
func (m *Machine) NICFaults() []string {
	var out []string
	for _, n := range m.NICs {
		for _, f := range n.Transport.Faults() {
			out = append(out, fmt.Sprintf("%#x: %s", n.Base, f))
		}
	}
	return out
}

// NICHeld says, for each of the guest's NICs, the queues whose device
// has held a request longer than a pause waits for one (nicStopWait):
// while it does, a migration's pause fails unless the operator resets the
// NIC (ferryctl migrate -reset-nic).
func (m *Machine) NICHeld() []string {
	var out []string
	for _, n := range m.NICs {
		for _, h := range n.Transport.Held(nicStopWait) {
			out = append(out, fmt.Sprintf("%#x: %s", n.Base, h))
		}
	}
	return out
}

// ExitCauses are the guest's exits so far by cause (Cause's names).
func (m *Machine) ExitCauses() map[string]uint64 { return m.VCPU.Causes() }

// Exits is how many times the guest exited to Ferry.
func (m *Machine) Exits() uint64 { return m.exits.Load() }
