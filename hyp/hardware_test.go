// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// fakeHW is Hardware for host tests: a clock the test moves, the EL2
// timer and HCR_EL2.TWI as values, a queue of physical interrupts for Ack,
// guest RAM in a byte slice, and the guest's run as a script of exits.
type fakeHW struct {
	now   int64
	timer int64 // the EL2 timer's deadline, 0: off
	twi   bool

	pend        []uint32 // physical interrupts pending, in the order Ack takes them
	dropped     []uint32
	deactivated []uint32
	pending     bool  // Pending's answer
	ackCost     int64 // how far each Ack moves the clock
	acks        int

	guestTimers [2]GuestTimer
	timersOff   int // StopGuestTimers calls

	flushes, icache   int
	invPage, invWrite []uint64
	invIPA            int
	cleaned           []phys.Range
	ramBase           uint64
	ram               []byte
	wfi               func(h *fakeHW) // what WaitForInterrupt does (nil: nothing)
	wfis              int
	script            []func(h *fakeHW, c *cpu.Context) uint64
	entries           []entry // each Enter
	log               []string
	vfake             *vcpuif.Fake
}

// entry is what the guest was entered with.
type entry struct {
	now, timer int64
	twi        bool
	lrs        int // valid list registers
}

func (h *fakeHW) Now() int64        { return h.now }
func (h *fakeHW) SetTimer(at int64) { h.timer = max(at, 0) }
func (h *fakeHW) WaitForEvent()     { runtime.Gosched() }
func (h *fakeHW) WaitForInterrupt() {
	h.wfis++
	if h.wfi != nil {
		h.wfi(h)
	}
}

// Enter runs the next exit of the script; with none left, the guest
// executes an instruction Ferry has no handler for (EC 0): Run returns.
func (h *fakeHW) Enter(c *cpu.Context) uint64 {
	e := entry{now: h.now, timer: h.timer, twi: h.twi}
	if h.vfake != nil {
		for i := range h.vfake.N {
			if h.vfake.LRs[i]>>vcpuif.LR_StateShift&3 != 0 {
				e.lrs++
			}
		}
	}
	h.entries = append(h.entries, e)
	if len(h.script) == 0 {
		c.ESR = 1 << 25
		return cpu.ExitSync
	}
	f := h.script[0]
	h.script = h.script[1:]
	return f(h, c)
}

func (h *fakeHW) Ack() uint32 {
	h.acks++
	h.now += h.ackCost
	if len(h.pend) == 0 {
		return 1023
	}
	id := h.pend[0]
	h.pend = h.pend[1:]
	if h.vfake != nil {
		h.vfake.Ack(id)
	}
	return id
}

func (h *fakeHW) Drop(id uint32) { h.dropped = append(h.dropped, id) }
func (h *fakeHW) Deactivate(id uint32) {
	h.deactivated = append(h.deactivated, id)
	if h.vfake != nil {
		h.vfake.Deactivate(id)
	}
}
func (h *fakeHW) Pending() bool                       { return h.pending }
func (h *fakeHW) TrapWFI(on bool)                     { h.twi = on }
func (h *fakeHW) GuestTimers() [2]GuestTimer          { return h.guestTimers }
func (h *fakeHW) StopGuestTimers()                    { h.timersOff++; h.guestTimers = [2]GuestTimer{} }
func (h *fakeHW) FlushStage2()                        { h.flushes++ }
func (h *fakeHW) InvalidateIPA(ipa uint64, level int) { h.invIPA++ }
func (h *fakeHW) InvalidateGuestPage(ipa uint64)      { h.invPage = append(h.invPage, ipa) }
func (h *fakeHW) InvalidateGuestWrite(ipa, va uint64) { h.invWrite = append(h.invWrite, ipa) }
func (h *fakeHW) CleanDcache(pa, size uint64) {
	h.cleaned = append(h.cleaned, phys.Range{Base: pa, Size: size})
}
func (h *fakeHW) InvalidateIcache() { h.icache++ }

func (h *fakeHW) RAM(pa, n uint64) []byte {
	if pa < h.ramBase || pa+n > h.ramBase+uint64(len(h.ram)) {
		panic(fmt.Sprintf("RAM(%#x, %#x) outside the fake's guest RAM", pa, n))
	}
	return h.ram[pa-h.ramBase : pa-h.ramBase+n]
}

// Exits for the script.

// irqExit is an interrupt exit with ids pending at the CPU interface.
func irqExit(ids ...uint32) func(*fakeHW, *cpu.Context) uint64 {
	return func(h *fakeHW, c *cpu.Context) uint64 {
		h.pend = append(h.pend, ids...)
		return cpu.ExitIRQ
	}
}

// wfiExit is the guest's WFI, trapped (HCR_EL2.TWI): PC advances past it.
func wfiExit(h *fakeHW, c *cpu.Context) uint64 {
	c.ESR = cpu.ECWFx<<26 | 1<<25
	return cpu.ExitSync
}

// hvcExit is an HVC: Ferry answers NOT_SUPPORTED, the guest goes on.
func hvcExit(h *fakeHW, c *cpu.Context) uint64 {
	c.ESR = cpu.ECHVC64<<26 | 1<<25
	return cpu.ExitSync
}

// after runs f once the guest has run d.
func after(d time.Duration, f func(*fakeHW, *cpu.Context) uint64) func(*fakeHW, *cpu.Context) uint64 {
	return func(h *fakeHW, c *cpu.Context) uint64 {
		h.now += int64(d)
		return f(h, c)
	}
}

// testBell is the vCPU goroutine's doorbell on the host: Wait tells the
// test it waits (the Go scheduler would now run Ferry's goroutines, and
// call the idle hook once none can run), then waits for Ring.
type testBell struct {
	waiting chan struct{}
	rung    chan struct{}
}

func newTestBell() *testBell {
	return &testBell{waiting: make(chan struct{}), rung: make(chan struct{}, 1)}
}

func (b *testBell) Wait() { b.waiting <- struct{}{}; <-b.rung }
func (b *testBell) Ring() {
	select {
	case b.rung <- struct{}{}:
	default:
	}
}

// Guest RAM of the test machine: 4 MiB above QEMU's carve-out.
const (
	testRAMBase = qemuGuestBase
	testRAMSize = 4 << 20
)

// testMachine is a Machine built by newMachine over fakes: the QEMU
// board's description (its management NIC, 4 MiB of guest RAM), a fake
// GIC and virtual interface, and fakeHW.
type testMachine struct {
	*Machine
	hw       *fakeHW
	bell     *testBell
	fake     *fakeMachine
	vfake    *vcpuif.Fake
	done     chan error // Run's result, once started
	mgmtIRQs int        // OnMgmtNIC calls
}

func newTestMachine(t *testing.T, state GuestState) *testMachine {
	t.Helper()
	b, _ := qemuBoard(t, "virt-gicv3-1g.dtb")
	b.Memory = []phys.Range{{Base: 0x40000000, Size: testRAMBase + testRAMSize - 0x40000000}}
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: qemuMgmtNIC, TickINTID: qemuTick, MaintINTID: qemuMaint, Route: qemuRoute})
	if err != nil {
		t.Fatal(err)
	}
	fake := newFakeMachine(t)
	vf := vcpuif.NewFake(4)
	h := &fakeHW{now: int64(time.Second), ramBase: testRAMBase, ram: make([]byte, testRAMSize), vfake: vf}
	tm := &testMachine{hw: h, bell: newTestBell(), fake: fake, vfake: vf}
	sh := fake.stateHW()
	sh.gic = nil // the machine's own guard, over fake.gic
	next := uint64(0x4100_0000)
	sh.dma = virtiommio.Shadowing{Alloc: func(n uint64) (virtq.Mem, uint64, error) {
		m := &virtq.Region{Base: next, B: make([]byte, n)}
		next += (n + mmu.PageSize - 1) &^ (mmu.PageSize - 1)
		return m, m.Base, nil
	}}
	page := mmio.NewFake(mmu.PageSize)
	m, err := newMachine(d, state, func(s string) { h.log = append(h.log, s) }, machineParts{
		parts: parts{
			arena: make([]byte, (stage2Pages+2)*mmu.PageSize), arenaPA: 0x1000_0000_0000,
			dist: fake.gic.Dist(), redist: fake.gic.Redist(),
			forward: func(base, size uint64) mmio.Device { return page },
			hw:      sh,
		},
		hw: h, vif: vf, idle: tm.bell, mgmt: newTestBell(), midr: 0x410fd083, mpidr: 0x80000000,
		firmware: func(args [8]uint64) [4]uint64 { return [4]uint64{NotSupported} },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.OnMgmtNIC = func() { tm.mgmtIRQs++ }
	m.VCPU.IDs = cpu.GuestIDs(func(string) uint64 { return 0 })
	m.vif.Enable()
	vf.Vmcr = vcpuif.VMCR_VENG1 | 0xf0<<vcpuif.VMCR_VPMRShift // the guest's Group 1 on, its priority mask open
	tm.Machine = m
	return tm
}

// start runs the machine's Run in its own goroutine, the vCPU's.
func (tm *testMachine) start() {
	tm.done = make(chan error, 1)
	go func() { tm.done <- tm.Run() }()
}

// waited waits for the vCPU goroutine to wait for Ferry's goroutines to
// be idle.
func (tm *testMachine) waited(t *testing.T) {
	t.Helper()
	select {
	case <-tm.bell.waiting:
	case err := <-tm.done:
		t.Fatalf("Run returned (%v) where the vCPU was to wait for Ferry to be idle", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the vCPU never waited for Ferry to be idle")
	}
}

// idle is the Go scheduler going idle with until its next timer, once the
// vCPU goroutine waits for it.
func (tm *testMachine) idle(t *testing.T, until int64) {
	t.Helper()
	tm.waited(t)
	tm.Idle(until)
}

// end waits for Run to return at the end of the script (the guest's
// unhandled EC 0), and fails if the vCPU waited for Ferry again first.
func (tm *testMachine) end(t *testing.T) {
	t.Helper()
	select {
	case err := <-tm.done:
		if err == nil || len(tm.hw.script) != 0 {
			t.Fatalf("Run returned %v with %d exits of the script left", err, len(tm.hw.script))
		}
	case <-tm.bell.waiting:
		t.Fatalf("the vCPU waited for Ferry to be idle after entry %d, %d exits of the script left", len(tm.hw.entries), len(tm.hw.script))
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
}
