// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmu"
)

// Machine is the guest and the EL2 state that runs it, built from its
// machine description. Its run-time policy -- the run loop and Ferry's
// idle (here), the interrupt path (irq.go), slices and dirty tracking
// (share.go, track.go), the migration's source and sink (migrate.go) --
// is plain Go over Hardware, tested on the host; the arm64 NewMachine
// binds it to the CPU (machine_arm64.go).
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

	// GuestNICs are the guest's NICs, each behind Ferry's model of its
	// transport; GuestEQOS the guest's EQOSes, each behind Ferry's relay
	// of its DMA.
	GuestNICs []GuestNIC
	GuestEQOS []GuestEQOS

	hw           Hardware
	midr         uint64        // the CPU's MIDR_EL1, for the fingerprint
	reg          Registry      // the migratable components
	guestNICStop *guestNICStop // how the next pause stops the guest's NICs' devices
	// OnMgmtNIC takes the management NIC's interrupt (acknowledges it at the
	// device, wakes its poller: ServeMgmtNIC); it runs on the vCPU
	// goroutine or in the idle hook, so it must not block.
	OnMgmtNIC func()
	mgmtIRQ   bell // the management NIC's poller, waiting for its interrupt
	// onPower carries out the guest's system power call (power_arm64.go):
	// nil, the run loop restarted the guest; else what Run returns.
	onPower func(*PowerRequest) error
	idle    bell // the vCPU goroutine, waiting for Ferry's goroutines to be idle
	// active is set while the vCPU goroutine runs or is runnable: between
	// the waits where it lends the CPU (waitIdle, a paused or absent
	// guest, a migration's slice). See VCPUActive.
	active   atomic.Bool
	idleWait bool  // it waits there
	busy     bool  // Yield ended its wait: Ferry's share was used, its goroutines not idle
	share    Share // Ferry's share of the CPU outside a migration (share.go)
	deadline int64 // the next Go timer when the scheduler last went idle (Now; 0: none)
	fired    bool  // the last interrupt exit included the EL2 timer's
	ferryIRQ bool  // the last interrupt exit included one of Ferry's (its timer, its management NIC)
	// vif is the guest's virtual CPU interface and irq the interrupt path
	// through it (irq.go).
	vif      *vcpuif.VIF
	irq      irqPath
	rearm    bool // Idle armed the timer for its own sleep since the guest's deadline was set
	exits    atomic.Uint64
	arena    []byte          // backs the stage-2 tables (identity-mapped: VA == PA)
	written  *dirty.Bitmap   // guest pages an incoming migration wrote
	captured []migrate.State // the guest's state at the last pause
	// switchTimes are the last switchover's parts on this board, and
	// pausedMode and pausedPC where it paused its guest if it was the
	// source (paused): Switchover.
	switchTimes          Timings
	paused               bool
	pausedMode, pausedPC uint64
	discard              *discarder // forgets an incoming guest that will not run here
	trk                  tracking   // dirty tracking and CPU sharing while migrating

	// The guest's other vCPUs (secondary.go): cpus[k] for k > 0 (nil
	// with one vCPU), the SGIs queued for each vCPU, and the lock of the
	// device models every vCPU's trapped accesses go to.
	cpus   []*secondary
	sgis   []atomic.Uint32
	mmioMu sync.Mutex
	// postedPower is a system power call (SYSTEM_OFF, SYSTEM_RESET) another
	// vCPU made, for vCPU 0's run loop to carry out (nil with one vCPU).
	postedPower *atomic.Pointer[PowerRequest]
	// Kick wakes vCPU k's CPU out of the guest (its kick SGI), to list
	// the SGIs queued for it; nil with one vCPU.
	Kick func(k int)
	// resetEL1 puts the CPU's EL1 and virtualisation registers as a
	// CPU_ON leaves them for vCPU v, on v's CPU (nil on the host).
	resetEL1 func(v *VCPU)
	// vtimeOff is the machine's virtual offset (CNTVOFF_EL2), every
	// vCPU's: zero from boot, a migration's once one arrived.
	vtimeOff atomic.Uint64
}

// bell wakes one waiting goroutine: Wait returns after Ring, at once if
// it rang since the last Wait (Doorbell on the board).
type bell interface {
	Wait()
	Ring()
}

// machineParts are what a machine is built over besides its description:
// on the board the CPU, its GIC and device pages (the arm64 NewMachine);
// on the host, fakes.
type machineParts struct {
	parts             // the stage-2 arena, the GIC, device pages and where the components live
	hw    Hardware    // the CPU's operations
	vif   vcpuif.Regs // the guest's virtual CPU interface's registers
	idle  bell        // the vCPU goroutine's, waiting for Ferry to be idle
	mgmt  bell        // the management NIC's poller's (mgmtpoll.go)
	midr  uint64
	// The vCPU's: its MPIDR_EL1, the board's firmware and what it
	// answered at boot, its EL1 exception registers (VCPU).
	mpidr    uint64
	firmware Firmware
	fwInfo   FirmwareInfo
	el1      cpu.EL1Access
}

// newMachine builds the machine d describes over p: the guest's stage-2
// tables, the guard over the GIC keeping Ferry's interrupts, the trapped
// pages on the MMIO bus, the registry of migratable components, the
// interrupt path through the guest's virtual CPU interface and the vCPU's
// handlers. The CPU's EL2 controls are the caller's (configureEL2).
func newMachine(d *Description, state GuestState, log func(string), p machineParts) (*Machine, error) {
	m := &Machine{Desc: d, Ctl: NewControl(state), hw: p.hw, idle: p.idle, mgmtIRQ: p.mgmt, midr: p.midr, arena: p.arena}
	m.vif = vcpuif.New(p.vif)
	sh := &p.parts.hw
	sh.quiesce, sh.vif, sh.log = m.quiesce, m.vif, log
	sh.vtimeOff, sh.gicState = &m.vtimeOff, new(*gic.State) // one for every vCPU's component
	sh.dma.Guest, sh.dma.InRAM, sh.dma.Wrote = guestRAM{m}, m.inRAMRange, m.dmaWrote
	a, err := assemble(d, p.parts)
	if err != nil {
		return nil, err
	}
	m.Stage2, m.GIC, m.Bus, m.reg, m.GuestNICs, m.guestNICStop = a.stage2, a.guard, a.bus, a.reg, a.guestNICs, a.stop
	m.newSecondaries(p, a.frames, log)
	for k := 1; k < len(m.cpus); k++ {
		m.reg = append(m.reg, m.vcpuComponent(k, *sh))
	}
	m.switchTimes = newTimings(m.reg) // sized once: the switchover allocates nothing for it
	m.GuestEQOS = a.eqos
	m.discard = a.discard
	m.irq = irqPath{
		phys: p.hw, vif: m.vif,
		priority: m.GIC.Priority, enabled: m.GIC.Enabled,
		tick: d.Tick, mgmtNIC: d.MgmtNIC, maint: d.Maint, kick: d.Kick,
		onTick: func() { m.hw.SetTimer(0) },
		onMgmtNIC: func() {
			if m.OnMgmtNIC != nil {
				m.OnMgmtNIC()
			}
		},
	}
	m.Stage2.SetTLB(p.hw)
	m.written = dirty.New(m.pages())
	v := &m.VCPU
	v.MPIDR, v.Firmware, v.FirmwareInfo, v.EL1 = p.mpidr, p.firmware, p.fwInfo, p.el1
	v.Log, v.MMIO, v.WriteFault, v.Idle, v.Standby = log, m.mmio, m.writeFault, m.guestIdle, m.guestStandby
	v.IRQ, v.InRAM = m.interrupt, func(ipa uint64) bool { return m.inRAMRange(ipa, 1) }
	v.SGI = func(val uint64) { m.sendSGI(0, val) }
	return m, nil
}

// pages is the number of pages from the first RAM range's base to the end
// of the last: the index space of the dirty log and of the written set.
func (m *Machine) pages() uint64 {
	ram := m.Desc.RAM
	return (ram[len(ram)-1].End() - ram[0].Base) / mmu.PageSize
}

// maxDeadline bounds how far ahead the EL2 timer is armed: a Go timer
// further away (time.Sleep(math.MaxInt64) is one) is re-armed from there.
const maxDeadline = int64(time.Hour)

// arm sets the EL2 timer for until, at most maxDeadline ahead, or turns
// it off when there is no deadline (0).
func (m *Machine) arm(until int64) {
	if until <= 0 {
		m.hw.SetTimer(0)
		return
	}
	now := m.hw.Now()
	m.hw.SetTimer(now + min(max(until-now, 0), maxDeadline))
}

// interrupt takes an interrupt exit, or the interrupts pending when
// Ferry's idle WFI ends (irq.go).
func (m *Machine) interrupt() Cause {
	c := m.irq.take()
	m.takeSGIs(0, m.vif, m.irq)
	m.fired = m.irq.fired
	m.ferryIRQ = c == CauseTimer || c == CauseMgmtNIC || c == CauseKick
	return c
}

// Idle is the Go scheduler's idle hook (goos.Idle): it runs when no
// goroutine of Ferry's can run, with until the next Go timer (0: none).
// If the vCPU goroutine is waiting for that moment it is woken to enter
// the guest with the EL2 timer armed for until: the guest has the CPU
// until Ferry has something to do. Otherwise (no guest yet, a paused one,
// a migration's slice) the CPU sleeps in WFI until until or Ferry's management NIC.
func (m *Machine) Idle(until int64) {
	if m.idleWait {
		m.idleWait = false
		m.deadline = until
		m.idle.Ring()
		return
	}
	if until > 0 && until <= m.hw.Now() {
		return
	}
	m.rearm = true
	m.arm(until)
	m.hw.WaitForInterrupt()
	m.interrupt()
}

// waitIdle lends the CPU to Ferry's goroutines until none can run, or
// until they used their share (Yield), then arms the EL2 timer for
// Ferry's next deadline, or the end of the guest's slice (share.go).
func (m *Machine) waitIdle() {
	m.idleWait, m.busy = true, false
	m.share.Wait(m.hw.Now())
	m.lend(m.idle.Wait)
	m.rearm = false
	if m.trk.on {
		m.armSlice()
		return
	}
	until, slice := m.share.Enter(m.hw.Now(), !m.busy, m.deadline)
	// In a slice the guest's WFI traps (guestIdle), to give the CPU
	// back early; otherwise it is the guest's own.
	m.hw.TrapWFI(slice)
	m.arm(until)
}

// armSlice arms the guest's slice while tracking.
func (m *Machine) armSlice() { m.hw.SetTimer(m.hw.Now() + int64(m.trk.guest)) }

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
// guest was entered), its management NIC -- unless the guest already has a virtual
// interrupt to take (one listed wakes only a WFI at EL1).
func (m *Machine) guestStandby() {
	switch {
	case m.trk.on || m.share.slice:
		m.guestIdle()
	case m.vif.GuestPending():
	default:
		m.hw.WaitForInterrupt()
	}
}

// quiesce silences a guest that will not run here again: its timers no
// longer wake the CPU from Ferry's idle WFI, every interrupt Ferry
// acknowledged for it is ended and its virtual CPU interface emptied
// (vcpuif.VIF.Reset), ready for another guest.
func (m *Machine) quiesce() {
	m.hw.StopGuestTimers()
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
	m.active.Store(true)
	defer m.active.Store(false)
	if m.Ctl.State() == GuestNone {
		m.lend(m.Ctl.WaitForGuest)
	}
	m.waitIdle()
	for {
		if !m.checkpoint() {
			// Given up: it runs elsewhere now. Its memory here is stale, so
			// a guest migrated back must have every page written, zero
			// pages included.
			m.quiesce()
			m.written.SetAll()
			m.lend(m.Ctl.WaitForGuest)
			m.waitIdle()
			continue
		}
		if err := m.step(); err != nil {
			return err
		}
	}
}

// lend runs wait, where the vCPU goroutine blocks and lends the CPU to
// Ferry's goroutines and its idle hook.
func (m *Machine) lend(wait func()) {
	m.active.Store(false)
	wait()
	m.active.Store(true)
}

// checkpoint is Ctl.Checkpoint, where a paused guest's goroutine waits
// (between every two exits: no closure).
func (m *Machine) checkpoint() bool {
	m.active.Store(false)
	ok := m.Ctl.Checkpoint()
	m.active.Store(true)
	return ok
}

// VCPUActive reports whether the vCPU goroutine is running or runnable,
// not at one of the waits where it lends the CPU. With several of the
// runtime's Ms on this CPU (boot/el2) one may idle while the vCPU
// goroutine's M waits mid-exit (for a lock another CPU holds): Idle's
// wait and interrupts must not run then, in the middle of its exit.
func (m *Machine) VCPUActive() bool { return m.active.Load() }

// timeEvery: one exit in timeEvery is timed, and counts for timeEvery in
// ExitTimes (an unbiased sample of the mean). Reading the counter is an
// access QEMU's TCG serves under its big lock, which its I/O thread holds
// while it moves the guest's packets.
const timeEvery = 16

// step enters the guest once and takes its exit: nil when it goes on.
func (m *Machine) step() error {
	m.rearmGuest()
	m.vif.Refill()
	reason := m.hw.Enter(&m.VCPU.Ctx)
	timed := m.exits.Add(1)%timeEvery == 0
	var exited int64
	if timed {
		exited = m.hw.Now()
	}
	err := m.VCPU.Dispatch(reason)
	if err == nil && m.postedPower != nil {
		// Another vCPU's system power call, carried out here.
		if p := m.postedPower.Swap(nil); p != nil {
			err = p
		}
	}
	var done int64 // read only where it is used: a timed exit, a slice's end
	if timed || m.share.slice {
		done = m.hw.Now()
	}
	if timed {
		m.VCPU.Took(timeEvery * (done - exited))
	}
	if err != nil {
		if p, ok := err.(*PowerRequest); ok && m.onPower != nil {
			return m.onPower(p) // nil: restarted
		}
		if m.trk.on {
			m.untrack()
		}
		m.quiesce()
		m.Ctl.Stop(err)
		return err
	}
	ferry := (reason == cpu.ExitIRQ || reason == cpu.ExitFIQ) && m.ferryIRQ
	m.ferryIRQ = false
	switch {
	case m.trk.on:
		if ferry && m.fired {
			// The guest's slice is over.
			m.slice(ferrySlice)
		}
		// The NIC, during the guest's slice: its goroutine runs in
		// Ferry's next slice.
	case m.share.Exit(done, ferry, m.fired):
		m.waitIdle()
	}
	return nil
}

// GuestNICFaults are the guest's NICs' faults (virtiommio.Transport.Faults,
// eqos.Model.Faults), each after its device's address.
func (m *Machine) GuestNICFaults() []string {
	var out []string
	for _, n := range m.GuestNICs {
		for _, f := range n.Transport.Faults() {
			out = append(out, fmt.Sprintf("%#x: %s", n.Base, f))
		}
	}
	for _, n := range m.GuestEQOS {
		for _, f := range n.Model.Faults() {
			out = append(out, fmt.Sprintf("%#x: %s", n.Base, f))
		}
	}
	return out
}

// GuestNICHeld says, for each of the guest's NICs, the queues whose device
// has held a request longer than a pause waits for one (guestNICStopWait):
// while it does, a migration's pause fails unless the operator resets the
// NIC (ferryctl migrate -reset-nic).
func (m *Machine) GuestNICHeld() []string {
	var out []string
	for _, n := range m.GuestNICs {
		for _, h := range n.Transport.Held(guestNICStopWait) {
			out = append(out, fmt.Sprintf("%#x: %s", n.Base, h))
		}
	}
	return out
}

// ExitCauses are the guest's exits so far by cause (Cause's names).
func (m *Machine) ExitCauses() map[string]uint64 { return m.VCPU.Causes() }

// ExitTimes are the nanoseconds Ferry spent handling those exits, by
// cause: from the exit to the end of its handling (the acknowledge, list
// and priority drop of an interrupt; a device model; a firmware call), not
// the world switch itself nor the slices Ferry's goroutines then run.
func (m *Machine) ExitTimes() map[string]uint64 { return m.VCPU.CauseTimes() }

// Exits is how many times the guest exited to Ferry.
func (m *Machine) Exits() uint64 { return m.exits.Load() }
