// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// newTwoVCPUMachine is a machine whose guest has vCPUs on CPUs 0 and 1
// (QEMU's board with four), each CPU's redistributor a fake of its own.
func newTwoVCPUMachine(t *testing.T) (*Machine, *vcpuif.Fake, *gic.Fake, *[]int) {
	m, vf, g1, kicked, _ := newTwoVCPUMachineHW(t)
	return m, vf, g1, kicked
}

func newTwoVCPUMachineHW(t *testing.T) (*Machine, *vcpuif.Fake, *gic.Fake, *[]int, *fakeHW) {
	t.Helper()
	b, _ := qemuBoard(t, "virt-gicv3-1g-smp4.dtb")
	b.Memory = []phys.Range{{Base: 0x40000000, Size: testRAMBase + testRAMSize - 0x40000000}}
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick, MaintINTID: qemuMaint, Route: qemuRoute, Kick: 7, VCPUs: []uint64{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	g0, g1 := gic.NewFake(64), gic.NewFake(64)
	vf := vcpuif.NewFake(4)
	h := &fakeHW{now: int64(time.Second), ramBase: testRAMBase, ram: make([]byte, testRAMSize), vfake: vf}
	fake := sample(t) // its CPU and timer are vCPU 0's
	sh := fake.stateHW()
	sh.gic = nil
	page := mmio.NewFake(mmu.PageSize)
	m, err := newMachine(d, GuestRunning, nil, machineParts{
		parts: parts{
			arena: make([]byte, (d.Stage2Pages()+2)*mmu.PageSize), arenaPA: 0x1000_0000_0000,
			dist: g0.Dist(), redist: g0.Redist(),
			frame:   func(k int) gic.Regs { return g1.Redist() },
			forward: func(base, size uint64) mmio.Device { return page },
			hw:      sh,
		},
		hw: h, vif: vf, idle: newTestBell(), mgmt: newTestBell(), midr: 0x410fd083, mpidr: 0x80000000,
		firmware: func(args [8]uint64) [4]uint64 { return [4]uint64{NotSupported} },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.VCPU.IDs = cpu.GuestIDs(func(string) uint64 { return 0 })
	var kicked []int
	var mu sync.Mutex // vCPUs kick from their own goroutines
	m.Kick = func(k int) {
		mu.Lock()
		kicked = append(kicked, k)
		mu.Unlock()
	}
	return m, vf, g1, &kicked, h
}

// TestSecondarySGIs: vCPU 0's SGI to vCPU 1 is queued for it and its CPU
// kicked; vCPU 1 lists it on its CPU if it enabled it, and only then; a
// broadcast from vCPU 1 reaches vCPU 0 alone.
func TestSecondarySGIs(t *testing.T) {
	m, vf, g1, kicked := newTwoVCPUMachine(t)
	listed := func(id uint64) bool {
		return slices.ContainsFunc(vf.LRs[:], func(lr uint64) bool { return lr&0xffffffff == id && lr>>62 != 0 })
	}
	if m.NVCPUs() != 2 || m.cpus[1] == nil || m.cpus[1].vcpu.MPIDR != 1 {
		t.Fatalf("%d vCPUs, secondary %+v", m.NVCPUs(), m.cpus)
	}
	if got := m.cpus[1].guard.RDPage().Read(gic.GICR_TYPER, 4) & gic.GICR_TYPER_Last; got == 0 {
		t.Error("vCPU 1's frame does not say it is the last")
	}
	if got := m.GIC.RDPage().Read(gic.GICR_TYPER, 4) & gic.GICR_TYPER_Last; got != 0 {
		t.Error("vCPU 0's frame says it is the last")
	}
	const sgi3to1 = 3<<vcpuif.SGI1R_INTIDShift | 1<<1 // Aff0 1
	m.sendSGI(0, sgi3to1)
	if !slices.Equal(*kicked, []int{1}) || m.sgis[1].Load() != 1<<3 {
		t.Fatalf("kicked %v, queued for vCPU 1 %#b", *kicked, m.sgis[1].Load())
	}
	s := m.cpus[1]
	m.takeSGIs(1, s.vif, s.irq)
	if listed(3) || s.vif.Pending() != 0 || m.sgis[1].Load() != 0 {
		t.Fatalf("a disabled SGI listed: %d queued in the interface, %#b left", s.vif.Pending(), m.sgis[1].Load())
	}
	s.guard.SGIPage().Write(gic.GICR_ISENABLER0-gic.GICR_SGIBase, 4, 1<<3)
	if g1.Redist().Read32(gic.GICR_ISENABLER0)&(1<<3) == 0 {
		t.Fatal("vCPU 1's enable of SGI 3 did not reach its redistributor")
	}
	m.sendSGI(0, sgi3to1)
	m.takeSGIs(1, s.vif, s.irq)
	if !listed(3) {
		t.Fatal("SGI 3 not listed for vCPU 1")
	}
	*kicked = nil
	m.sendSGI(1, vcpuif.SGI1R_IRM|5<<vcpuif.SGI1R_INTIDShift)
	if !slices.Equal(*kicked, []int{0}) || m.sgis[0].Load() != 1<<5 || m.sgis[1].Load() != 0 {
		t.Fatalf("broadcast: kicked %v, queued %#b %#b", *kicked, m.sgis[0].Load(), m.sgis[1].Load())
	}
}

// TestSecondaryCPUOn: vCPU 0's CPU_ON of vCPU 1 wakes its runner with the
// entry point; its CPU_OFF turns it off; vCPU 0 cannot be turned off.
func TestSecondaryCPUOn(t *testing.T) {
	m, _, _, kicked := newTwoVCPUMachine(t)
	entry := uint64(qemuGuestBase + 0x10000)
	if r := m.VCPU.callSMC(PSCICPUOn64, [7]uint64{1, entry, 0x42}); r[0] != PSCISuccess {
		t.Fatalf("CPU_ON(1) = %#x", r[0])
	}
	if !m.cpus[1].started.Load() || !slices.Equal(*kicked, []int{1}) {
		t.Fatalf("vCPU 1's runner not told (started %v), kicked %v", m.cpus[1].started.Load(), *kicked)
	}
	st, ok := m.VCPU.Powers.Started(1)
	if !ok || st != (CPUStart{Entry: entry, Context: 0x42}) {
		t.Fatalf("started %+v %v", st, ok)
	}
	v := &m.cpus[1].vcpu
	m.bootVCPU(v, st)
	if v.Ctx.PC != entry || v.Ctx.X[0] != 0x42 || v.Ctx.PSTATE != cpu.SPSR_EL1h|cpu.SPSR_DAIF {
		t.Errorf("vCPU 1 enters at %#x with x0 %#x, PSTATE %#x", v.Ctx.PC, v.Ctx.X[0], v.Ctx.PSTATE)
	}
	if r := m.VCPU.callSMC(PSCICPUOff, [7]uint64{}); r[0] != PSCIDenied {
		t.Errorf("CPU_OFF of vCPU 0 = %#x, want DENIED", r[0])
	}
	if r := v.callSMC(PSCICPUOff, [7]uint64{}); r[0] != PSCISuccess || v.Powers.State(1) != VCPUOff {
		t.Errorf("CPU_OFF of vCPU 1 = %#x, state %v", r[0], v.Powers.State(1))
	}
	if r := m.VCPU.callSMC(PSCIAffinityInfo64, [7]uint64{1, 0}); r[0] != uint64(VCPUOff) {
		t.Errorf("AFFINITY_INFO(1) = %#x, want OFF", r[0])
	}
}

// TestSecondaryFingerprint: the fingerprint of a guest with two vCPUs
// names both, and its states a component for vCPU 1.
func TestSecondaryFingerprint(t *testing.T) {
	m, _, _, _ := newTwoVCPUMachine(t)
	f := m.Fingerprint()
	if !slices.Equal(f.CPUs, []uint64{0x80000000, 0x80000001}) {
		t.Errorf("fingerprint CPUs %#x", f.CPUs)
	}
	if !slices.ContainsFunc(f.States, func(v migrate.StateVersion) bool { return v.Name == "vcpu/1" && v.Version == vcpuStateVersion }) {
		t.Errorf("fingerprint states %+v: no vcpu/1", f.States)
	}
}

// runCPU serves vCPU k of m as its CPU does between two exits and while
// it waits (RunVCPU), until the test ends.
func runCPU(t *testing.T, m *Machine, k int) {
	var done atomic.Bool
	t.Cleanup(func() { done.Store(true) })
	go func() {
		for !done.Load() {
			m.cpus[k].serve(m.hw)
			time.Sleep(100 * time.Microsecond)
		}
	}()
}

// TestSecondaryMoves: vCPU 1 moves with the machine. The source holds it
// on its CPU (the pause), captures it there with the SGI vCPU 0 queued
// for it; the destination decodes it with the rest, loads it on its own
// CPU with the machine's one virtual offset, and starts it where it was
// only when told. Giving the guest up turns the source's vCPU off.
func TestSecondaryMoves(t *testing.T) {
	src, _, g1, _, _ := newTwoVCPUMachineHW(t)
	dst, _, _, dkicked, _ := newTwoVCPUMachineHW(t)
	runCPU(t, src, 1)
	runCPU(t, dst, 1)
	p := src.VCPU.Powers
	if r := p.on(1, qemuGuestBase, 0, src.VCPU.InRAM); r != PSCISuccess {
		t.Fatalf("CPU_ON: %#x", r)
	}
	p.Started(1)
	s := src.cpus[1]
	s.vcpu.Ctx.PC, s.vcpu.Ctx.X[3] = qemuGuestBase+0x1234, 7
	g1.Redist().Write32(gic.GICR_ISENABLER0, 1<<5)
	src.sendSGI(0, 5<<24|1<<1) // SGI 5 to vCPU 1 (target list bit 1: Aff0 1)

	if err := src.holdSecondaries(); err != nil || !s.held.Load() {
		t.Fatalf("hold: %v (held %v)", err, s.held.Load())
	}
	states := captureAll(t, src.reg)
	var st *vcpuState
	for _, x := range states {
		if x.Name == "vcpu/1" {
			st, _ = decodeVCPUState(x.Version, x.Data)
		}
	}
	if st == nil || st.Power != VCPUOn {
		t.Fatalf("vcpu/1 captured as %+v", st)
	}

	dfake := dst.cpus[1]
	restore := dst.Sink()
	if err := restore.Restore(states); err != nil {
		t.Fatal(err)
	}
	d := &dfake.vcpu
	if d.Ctx.PC != qemuGuestBase+0x1234 || d.Ctx.X[3] != 7 || d.Powers.State(1) != VCPUOn || !dfake.restored.Load() {
		t.Fatalf("vCPU 1 restored at PC %#x x3 %d, %v, restored %v", d.Ctx.PC, d.Ctx.X[3], d.Powers.State(1), dfake.restored.Load())
	}
	vs := dfake.vif.Capture()
	sgi5 := func(lr uint64) bool { return lr&0xffffffff == 5 }
	if !slices.ContainsFunc(vs.Queue, sgi5) && !slices.ContainsFunc(vs.LRs[:], sgi5) {
		t.Errorf("the SGI queued for vCPU 1 did not move: %+v", vs)
	}
	if got, want := dst.vtimeOff.Load(), sampleVirtCount+1; got != want {
		t.Errorf("the machine's virtual offset after the restore is %#x, want vCPU 0's timer's %#x", got, want)
	}
	if dfake.started.Load() {
		t.Fatal("vCPU 1 started before the machine")
	}
	*dkicked = nil
	dst.startSecondaries()
	if !dfake.started.Load() || !slices.Contains(*dkicked, 1) {
		t.Errorf("vCPU 1 not started (kicked %v)", *dkicked)
	}

	src.dropSecondaries()
	src.releaseSecondaries()
	if p.State(1) != VCPUOff || s.started.Load() || s.hold.Load() {
		t.Errorf("given up: vCPU 1 %v, started %v, held %v", p.State(1), s.started.Load(), s.hold.Load())
	}
}

// TestSecondaryHoldBounded: a vCPU whose CPU never answers fails the
// hold, naming it, and every vCPU is released.
func TestSecondaryHoldBounded(t *testing.T) {
	m, _, _, _ := newTwoVCPUMachine(t)
	err := m.holdSecondaries()
	if err == nil || !strings.Contains(err.Error(), "vCPU 1") || m.cpus[1].hold.Load() {
		t.Fatalf("hold: %v, still held %v", err, m.cpus[1].hold.Load())
	}
	if err := m.onCPU(1, func() error { return nil }); err == nil || m.cpus[1].work.Load() != nil {
		t.Fatalf("work on a CPU that never answers: %v", err)
	}
}

// TestStopSecondaries: a restart turns every other vCPU off first: one
// that was only about to start at once; one that runs once its CPU says
// it stopped; one whose CPU never answers is an error, not a hang.
func TestStopSecondaries(t *testing.T) {
	m, _, _, kicked := newTwoVCPUMachine(t)
	p := m.VCPU.Powers
	if r := p.on(1, qemuGuestBase, 0, m.VCPU.InRAM); r != PSCISuccess {
		t.Fatalf("CPU_ON: %#x", r)
	}
	if err := m.stopSecondaries(); err != nil || p.State(1) != VCPUOff {
		t.Fatalf("pending: %v, state %v", err, p.State(1))
	}
	p.on(1, qemuGuestBase, 0, m.VCPU.InRAM)
	p.Started(1)
	s := m.cpus[1]
	go func() { // its CPU: stops at its next exit
		for !s.stop.Load() {
			time.Sleep(time.Millisecond)
		}
		s.stop.Store(false)
		p.Off(1)
		s.stopped.Store(true)
	}()
	*kicked = nil
	if err := m.stopSecondaries(); err != nil || p.State(1) != VCPUOff || !slices.Equal(*kicked, []int{1}) {
		t.Fatalf("running: %v, state %v, kicked %v", err, p.State(1), *kicked)
	}
	p.on(1, qemuGuestBase, 0, m.VCPU.InRAM)
	p.Started(1)
	if err := m.stopSecondaries(); err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Fatalf("a CPU that never answers: %v", err)
	}
}

// TestSecondaryPowerCall: vCPU 1's SYSTEM_RESET is vCPU 0's to carry out:
// vCPU 1 posts it, kicks CPU 0 and stops; vCPU 0's next exit takes it.
func TestSecondaryPowerCall(t *testing.T) {
	m, _, _, kicked, h := newTwoVCPUMachineHW(t)
	h.script = []func(*fakeHW, *cpu.Context) uint64{smcExit(PSCISystemReset)}
	parked := make(chan struct{})
	var once sync.Once
	h.wfi = func(*fakeHW) {
		if m.cpus[1].stopped.Load() {
			once.Do(func() { close(parked) })
			runtime.Goexit() // the vCPU's CPU would wait here for ever
		}
	}
	done := make(chan error, 1)
	go func() { done <- m.RunVCPU(1, func(*vcpuif.VIF, *gic.Guard) error { return nil }) }()
	if r := m.VCPU.Powers.on(1, qemuGuestBase, 0, m.VCPU.InRAM); r != PSCISuccess {
		t.Fatalf("CPU_ON: %#x", r)
	}
	select {
	case <-parked:
	case err := <-done:
		t.Fatalf("RunVCPU returned %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("vCPU 1 did not stop after its SYSTEM_RESET")
	}
	p := m.postedPower.Load()
	if p == nil || p.Call != "SYSTEM_RESET" || m.VCPU.Powers.State(1) != VCPUOff || !slices.Contains(*kicked, 0) {
		t.Fatalf("posted %v, vCPU 1 %v, kicked %v", p, m.VCPU.Powers.State(1), *kicked)
	}
}

// TestSecondaryStatus: the API's picture of the vCPUs: their CPUs, power
// states and exits; none with one vCPU.
func TestSecondaryStatus(t *testing.T) {
	m, _, _, _ := newTwoVCPUMachine(t)
	m.VCPU.Powers.on(1, qemuGuestBase, 0, m.VCPU.InRAM)
	m.cpus[1].vcpu.causes.add(CauseIRQ)
	m.cpus[1].vcpu.causes.add(CauseKick)
	got := m.VCPUs()
	want := []VCPUInfo{{MPIDR: 0, Power: VCPUOn}, {MPIDR: 1, Power: VCPUOnPending, Exits: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("VCPUs() = %+v, want %+v", got, want)
	}
	if one := newTestMachine(t, GuestRunning); one.VCPUs() != nil {
		t.Errorf("one vCPU: %+v", one.VCPUs())
	}
}
