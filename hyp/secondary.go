// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"errors"
	"fmt"
	"math/bits"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
)

// The guest's other vCPUs (docs/smp.md). vCPU 0 is the Machine's own
// (VCPU, vif, irq: the run loop of machine.go, on the boot CPU, sharing it
// with Ferry's goroutines). vCPU k > 0 runs on a CPU of its own, on the
// goroutine locked there (RunVCPU), with nothing else to share it with:
// from the guest's CPU_ON of it to its CPU_OFF it is entered again at once
// after every exit. Its interrupts come to that CPU (the guest routes its
// SPIs by affinity, its PPIs are that CPU's) and go through that CPU's
// virtual interface; its SGIs to another vCPU are queued for it and its
// CPU kicked (Kick); the trapped pages of the machine's devices are
// emulated under one lock (mmio).

// secondary is vCPU k > 0.
type secondary struct {
	vcpu  VCPU
	guard *gic.Guard // its redistributor frame's
	vif   *vcpuif.VIF
	irq   irqPath
	// stop asks its CPU to stop it at its next exit (stopSecondaries),
	// which says so in stopped.
	stop, stopped atomic.Bool
	// started is set by a CPU_ON of it (Powers has where it starts).
	// Its CPU's goroutine waits for it in WFI, never blocking: the
	// goroutine that blocks would have to be scheduled by the boot CPU
	// to run again, which may be in the guest for long.
	started atomic.Bool
	// restored: a migration loaded its state here, ON, and its start
	// enters it where it was, not at a CPU_ON's entry point.
	restored atomic.Bool
	// hold keeps it out of the guest from its next exit until cleared (a
	// migration's pause, dirty tracking's block splits), its CPU serving
	// work (onCPU) meanwhile; held says its CPU is there.
	hold, held atomic.Bool
	work       atomic.Pointer[cpuWork]
}

// cpuWork is a function run on a vCPU's own CPU, outside the guest: what
// reaches that vCPU's registers (its capture and restore).
type cpuWork struct {
	fn   func() error
	err  error
	done atomic.Bool
}

// serve runs on vCPU s's CPU between two of its exits, and while it waits
// for a CPU_ON: the work posted for it, and while hold is set, it stays,
// waiting for work or the release in WFE. Not in WFI: the guest's
// interrupts must stay pending while it is held (its state is captured),
// and one pending would end every WFI at once; masking them with the
// priority mask instead was tried, and the kick then never ended the WFI
// on QEMU's secure board (docs/decisions.md).
func (s *secondary) serve(hw Hardware) {
	for {
		if w := s.work.Swap(nil); w != nil {
			w.err = w.fn()
			w.done.Store(true)
		}
		if !s.hold.Load() {
			s.held.Store(false)
			return
		}
		s.held.Store(true)
		if s.work.Load() == nil && s.hold.Load() {
			hw.WaitForEvent()
		}
	}
}

// cpuWait bounds how long vCPU k's CPU takes to answer: its next exit
// after a kick, or at once where it waits.
const cpuWait = 2 * time.Second

// onCPU runs fn on vCPU k's CPU (k > 0) and returns its error: at the
// vCPU's next exit, which a kick brings, or where it waits. Bounded: a
// CPU that does not answer within cpuWait is an error naming it (fn may
// still run later; the caller gives up what it was doing).
func (m *Machine) onCPU(k int, fn func() error) error {
	s := m.cpus[k]
	w := &cpuWork{fn: fn}
	s.work.Store(w)
	m.kick(k)
	if !awaitCPU(w.done.Load) {
		s.work.CompareAndSwap(w, nil)
		return fmt.Errorf("vCPU %d: its CPU did not answer within %v", k, cpuWait)
	}
	return w.err
}

// awaitCPU yields until ok, for at most cpuWait, and reports whether ok
// came: another CPU's answer (onCPU, holdSecondaries).
func awaitCPU(ok func() bool) bool {
	deadline := time.Now().Add(cpuWait)
	for !ok() {
		if time.Now().After(deadline) {
			return false
		}
		runtime.Gosched()
	}
	return true
}

func (m *Machine) kick(k int) {
	if m.Kick != nil {
		m.Kick(k)
	}
}

// holdSecondaries keeps every other vCPU out of the guest from its next
// exit until releaseSecondaries, and returns once each is held; one that
// is not within cpuWait is an error naming it, and every vCPU is
// released.
func (m *Machine) holdSecondaries() error {
	for k, s := range m.cpus {
		if s != nil {
			s.hold.Store(true)
			m.kick(k)
		}
	}
	notHeld := func() int {
		for k, s := range m.cpus {
			if s != nil && !s.held.Load() {
				return k
			}
		}
		return -1
	}
	if awaitCPU(func() bool { return notHeld() < 0 }) {
		return nil
	}
	if k := notHeld(); k >= 0 {
		m.releaseSecondaries()
		return fmt.Errorf("vCPU %d: its CPU did not stop within %v", k, cpuWait)
	}
	return nil // the last one stopped just in time
}

// releaseSecondaries lets the held vCPUs go on.
func (m *Machine) releaseSecondaries() {
	for k, s := range m.cpus {
		if s != nil {
			s.hold.Store(false)
			m.kick(k)
		}
	}
}

// ErrStopped is RunVCPU's when the machine stopped its vCPU for good.
var ErrStopped = errors.New("vCPU stopped")

// NVCPUs is the number of the guest's vCPUs.
func (m *Machine) NVCPUs() int { return len(m.Desc.VCPUs) }

// newSecondaries builds vCPUs 1..n-1 of m over p (newMachine): each with
// the machine's handlers of the pages, its own interrupt path over its
// CPU's interface and frame, all sharing vCPU 0's power states.
func (m *Machine) newSecondaries(p machineParts, frames []*gic.Guard, log func(string)) {
	n := len(m.Desc.VCPUs)
	m.sgis = make([]atomic.Uint32, n)
	if n == 1 {
		return
	}
	powers, err := newVCPUPowers(m.Desc.VCPUs)
	if err != nil {
		panic(err) // Describe refused duplicates
	}
	m.VCPU.Powers = powers
	m.VCPU.Index = 0
	m.postedPower = new(atomic.Pointer[PowerRequest])
	m.cpus = make([]*secondary, n)
	for k := 1; k < n; k++ {
		s := &secondary{guard: frames[k], vif: vcpuif.New(p.vif)}
		g, g0 := s.guard, m.GIC
		s.irq = irqPath{
			phys: p.hw, vif: s.vif,
			// Its SGIs' and PPIs' state is its frame's; the SPIs' the
			// distributor's, which the first guard keeps.
			priority: func(id uint32) uint8 {
				if id < gic.FirstSPI {
					return g.Priority(id)
				}
				return g0.Priority(id)
			},
			enabled: func(id uint32) bool {
				if id < gic.FirstSPI {
					return g.Enabled(id)
				}
				return g0.Enabled(id)
			},
			tick: m.Desc.Tick, maint: m.Desc.Maint, kick: m.Desc.Kick,
		}
		v := &s.vcpu
		v.Index, v.MPIDR, v.Powers = k, m.Desc.VCPUs[k], powers
		v.Firmware, v.FirmwareInfo, v.EL1, v.Log = p.firmware, p.fwInfo, p.el1, log
		v.MMIO = m.mmio
		v.WriteFault = m.writeFault // dirty tracking's, as vCPU 0's
		v.Idle = func() {}          // its WFI does not trap (HCR_EL2.TWI clear)
		v.Standby = func() {
			if !s.vif.GuestPending() {
				p.hw.WaitForInterrupt()
			}
		}
		v.IRQ = func() Cause {
			c := s.irq.take()
			m.takeSGIs(k, s.vif, s.irq)
			return c
		}
		v.SGI = func(val uint64) { m.sendSGI(k, val) }
		v.InRAM = func(ipa uint64) bool { return m.inRAMRange(ipa, 1) }
		m.cpus[k] = s
	}
	powers.onStart = func(i int) {
		if s := m.cpus[i]; s != nil {
			s.started.Store(true)
			if m.Kick != nil {
				m.Kick(i)
			}
		}
	}
}

// mmio is every vCPU's handler of a trapped page: one at a time, the
// models being the machine's.
func (m *Machine) mmio(c *cpu.Context, esr cpu.ESR, ipa uint64) (bool, error) {
	m.mmioMu.Lock()
	defer m.mmioMu.Unlock()
	return m.Bus.Handle(c, esr, ipa)
}

// sendSGI takes vCPU from's trapped ICC_SGI1R_EL1 write v: its own SGI
// is listed for it at once (irqPath.sgi), one for another vCPU queued for
// that vCPU, whose CPU is kicked out of the guest to list it.
func (m *Machine) sendSGI(from int, v uint64) {
	if m.cpus == nil {
		m.irq.sgi(v, m.VCPU.MPIDR) // the guest's only vCPU
		return
	}
	id, targets := vcpuif.SGITargets(v, from, m.Desc.VCPUs)
	for targets != 0 {
		k := bits.TrailingZeros64(targets)
		targets &^= 1 << k
		if k == from {
			if from == 0 {
				m.irq.sgi(v, m.VCPU.MPIDR)
			} else {
				s := m.cpus[from]
				s.irq.sgi(v, s.vcpu.MPIDR)
			}
			continue
		}
		m.sgis[k].Or(1 << id)
		if m.Kick != nil {
			m.Kick(k)
		}
	}
}

// takeSGIs lists, on vCPU k's own CPU, the SGIs other vCPUs queued for it
// that it enabled.
func (m *Machine) takeSGIs(k int, vif *vcpuif.VIF, p irqPath) {
	if len(m.sgis) <= k {
		return
	}
	pending := m.sgis[k].Swap(0)
	for pending != 0 {
		id := uint32(bits.TrailingZeros32(pending))
		pending &^= 1 << id
		if p.enabled(id) {
			vif.Inject(vcpuif.IRQ{INTID: id, Priority: p.priority(id)})
		}
	}
}

// RunVCPU runs vCPU k > 0 on the calling goroutine, which must be locked
// to that vCPU's CPU (the one whose affinity is Desc.VCPUs[k]) and must
// never return while the machine runs: it waits for the guest's CPU_ON of
// the vCPU, sets the CPU up for it (setup: its EL2 controls, its
// redistributor, its virtual interface), enters it at the CPU_ON's entry
// point and takes its exits until its CPU_OFF, then waits again. It
// returns the error that stopped the vCPU (the vCPU is then off).
func (m *Machine) RunVCPU(k int, setup func(vif *vcpuif.VIF, guard *gic.Guard) error) error {
	if k <= 0 || k >= len(m.cpus) || m.cpus[k] == nil {
		return fmt.Errorf("no vCPU %d", k)
	}
	s := m.cpus[k]
	if err := setup(s.vif, s.guard); err != nil {
		s.vcpu.Powers.Off(k)
		return fmt.Errorf("vCPU %d: %w", k, err)
	}
	for {
		for !s.started.Swap(false) {
			s.serve(m.hw)
			if !s.started.Load() && s.work.Load() == nil {
				// Off: asleep until a kick, which every wake of it
				// sends (a CPU_ON, work, a hold, the runtime's), then
				// what woke it is taken as at an exit. Not in WFE, which
				// QEMU's TCG only yields on: an off vCPU's CPU would
				// spin its host thread for as long as it is off.
				m.hw.WaitForInterrupt()
				s.irq.take()
			}
		}
		if !s.restored.Swap(false) {
			start, ok := s.vcpu.Powers.Started(k)
			if !ok {
				continue
			}
			m.bootVCPU(&s.vcpu, start)
		}
		for s.vcpu.Powers.State(k) == VCPUOn && !s.stop.Load() {
			// While a migration throttles the guest, this vCPU gives
			// up its share too (tracking starts and ends with it held).
			throttled := m.trk.on && m.trk.cut.Load() != 0
			var entered int64
			if throttled {
				entered = m.hw.Now()
			}
			// What waits in its interface's queue is listed first (a
			// restored one: Restore lists only the active entries).
			s.vif.Refill()
			reason := m.hw.Enter(&s.vcpu.Ctx)
			err := s.vcpu.Dispatch(reason)
			if throttled {
				m.throttleVCPU(s, entered)
			}
			if s.hold.Load() || s.work.Load() != nil {
				s.serve(m.hw)
			}
			var p *PowerRequest
			if errors.As(err, &p) {
				// The machine's power is vCPU 0's to carry out (it
				// stops this one first): this vCPU waits for it.
				m.postedPower.Store(p)
				if m.Kick != nil {
					m.Kick(0)
				}
				s.stop.Store(true)
				break
			}
			if err != nil {
				s.vcpu.Powers.Off(k)
				s.vif.Reset()
				return fmt.Errorf("vCPU %d: %w", k, err)
			}
		}
		m.hw.StopGuestTimers()
		s.vif.Reset()
		if s.stop.Swap(false) {
			s.vcpu.Powers.Off(k)
			s.stopped.Store(true)
		}
	}
}

// stopWait bounds how long a vCPU's CPU takes to stop it: the next exit
// after a kick.
const stopWait = time.Second

// stopSecondaries stops every other vCPU that is on or about to be, and
// waits for each (bounded): they are off after it, as at power-on. Called
// on vCPU 0's goroutine (the guest restarts or powers off).
func (m *Machine) stopSecondaries() error {
	for k, s := range m.cpus {
		if s == nil || s.vcpu.Powers.State(k) == VCPUOff {
			continue
		}
		s.stopped.Store(false)
		s.stop.Store(true)
		s.started.Store(false)
		if m.Kick != nil {
			m.Kick(k)
		}
		deadline := time.Now().Add(stopWait)
		for !s.stopped.Load() {
			if s.vcpu.Powers.State(k) == VCPUOnPending {
				// Never entered: nothing runs there to stop.
				s.vcpu.Powers.Off(k)
				s.stop.Store(false)
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("vCPU %d did not stop within %v", k, stopWait)
			}
			runtime.Gosched()
		}
	}
	return nil
}

// bootVCPU points v at a CPU_ON's entry point (DEN 0022 6.4.3: at EL1h
// with the MMU and caches off, interrupts masked, x0 the context).
func (m *Machine) bootVCPU(v *VCPU, s CPUStart) {
	v.Ctx = cpu.Context{}
	v.Ctx.PC = s.Entry
	v.Ctx.PSTATE = cpu.SPSR_EL1h | cpu.SPSR_DAIF
	v.Ctx.X[0] = s.Context
	if m.resetEL1 != nil {
		m.resetEL1(v)
	}
}

// VCPUInfo is one vCPU as the API shows it.
type VCPUInfo struct {
	MPIDR uint64
	Power VCPUPower
	Exits uint64
}

// VCPUs are the guest's vCPUs, none with only one.
func (m *Machine) VCPUs() []VCPUInfo {
	if m.cpus == nil {
		return nil
	}
	out := make([]VCPUInfo, len(m.cpus))
	for k := range m.cpus {
		v := &m.VCPU
		if k > 0 {
			v = &m.cpus[k].vcpu
		}
		var n uint64
		for _, c := range v.Causes() {
			n += c
		}
		out[k] = VCPUInfo{MPIDR: m.Desc.VCPUs[k], Power: v.Powers.State(k), Exits: n}
	}
	return out
}
