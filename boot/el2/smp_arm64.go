// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	"errors"
	"fmt"
	"runtime"
	"runtime/goos"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/cpu"
)

// maxCPUs bounds the CPUs Ferry brings up; a board with more runs on the
// first maxCPUs of its DTB.
const maxCPUs = 64

// bootStackSize is a secondary's stack until its thread runs: the entry
// needs none, but SP must point somewhere.
const bootStackSize = 256

// percpu is one CPU's: its identity, whether it is up, and the threads it
// carries (threads.go).
type percpu struct {
	thr    [maxThreads]thread
	mpidr  uint64
	online uint32 // set by the CPU itself once its MMU is on
	taken  uint32 // a secondary: Task placed its one thread
	kick   uint32 // Wake sends it the kick SGI (it takes interrupts: the boot CPU)
	pokes  uint32 // Wakes of it so far: an idle thread poked since it idled runs (threads.go)
	nthr   uint32 // threads placed on it, the first included
	cur    int    // its current thread
	stack  [bootStackSize / 8]uint64
}

// cpus are indexed by TPIDR_EL2 (procID): the boot CPU is 0, the
// secondaries follow in the DTB's order.
var cpus [maxCPUs]percpu

// ncpus is how many of cpus were started (some may not have come up).
var ncpus atomic.Int32

// placing is set while the secondaries come up: until EndBringUp, a new M
// goes to a secondary that has none.
var placing atomic.Bool

// smpBoot are the EL2 registers a secondary loads with its MMU off: the
// boot CPU's, cleaned to the point of coherency.
type smpBoot struct{ vbar, mair, tcr, ttbr0, sctlr uint64 }

var secondaryBoot smpBoot

// Implemented in smp_arm64.s.
func secondaryEntry()
func secondaryEntryPC() uintptr
func threadStart()
func threadStartPC() uintptr
func threadExit()
func swtch(from, to *thread)

// The runtime's hooks of scripts/tamago-go-smp.patch.
//
//go:linkname goosPark runtime.goosPark
var goosPark func(wait *uint32, deadline int64)

//go:linkname goosWake runtime.goosWake
var goosWake func(procid uint64)

// procID is this CPU's index in cpus (goos.ProcID: the M's procid).
//
//go:nosplit
func procID() uint64 { return cpu.ReadTPIDR_EL2() }

//go:nosplit
func load32(p uintptr) uint32 { return atomic.LoadUint32((*uint32)(unsafe.Pointer(p))) }

// installThreads sets the runtime's hooks (hwinit1, before the first M
// could be asked for).
func installThreads() {
	cpus[0].mpidr = cpu.ReadMPIDR_EL1() & 0xff_00ff_ffff
	cpus[0].thr[0].state = threadRunning
	cpus[0].nthr = 1
	ncpus.Store(1)
	goos.ProcID = procID
	goos.Task = task
	goos.Idle = idle
	goosPark = park
	goosWake = wake
}

// task is goos.Task: the runtime's new M, whose g0 is gp, starts at fn on
// stack sp. A secondary that is up and carries no thread yet gets it;
// otherwise the boot CPU does.
//
//go:nosplit
func task(sp, mp, gp, fn unsafe.Pointer) {
	c := 0
	for i := 1; placing.Load() && i < int(ncpus.Load()); i++ {
		if atomic.LoadUint32(&cpus[i].online) == 1 && atomic.CompareAndSwapUint32(&cpus[i].taken, 0, 1) {
			c = i
			break
		}
	}
	k := place(cpus[c].thr[:])
	if k < 0 {
		print("ferry: cpu ", c, " carries ", maxThreads, " threads already: halted\n")
		for {
			cpu.WaitForInterrupt()
		}
	}
	t := &cpus[c].thr[k]
	t.sp, t.g, t.fp, t.lr, t.fn = uintptr(sp), uintptr(gp), 0, threadStartPC(), uintptr(fn)
	t.wait, t.deadline = 0, -1
	atomic.StoreUint32(&t.state, threadNew)
	atomic.AddUint32(&cpus[c].nthr, 1)
	wake(uint64(c))
}

// switchTo runs thread k of c in place of me, which becomes st; it
// returns when a switch comes back to me.
//
//go:nosplit
func (c *percpu) switchTo(me, k int, st uint32) {
	from, to := &c.thr[me], &c.thr[k]
	atomic.StoreUint32(&from.state, st)
	c.cur = k
	atomic.StoreUint32(&to.state, threadRunning)
	swtch(from, to)
}

// park is the runtime's goosPark: the current M waits for *wait to be
// non-zero (wait nil: it yields, at a scheduling point or in a spin) or
// for deadline. Another thread of this
// CPU runs if one may; else a secondary waits for an event (a Wake's
// SEV, or the event stream), and the boot CPU returns at once -- what its
// threads wait for comes from its own interrupts, which Idle takes.
//
//go:nosplit
func park(wait *uint32, deadline int64) {
	c := &cpus[procID()]
	if atomic.LoadUint32(&c.nthr) <= 1 {
		// The only thread here: nothing to switch to.
		if wait != nil && c != &cpus[0] {
			cpu.WaitForEvent()
		}
		return
	}
	me := c.cur
	t := &c.thr[me]
	t.wait, t.deadline = uintptr(unsafe.Pointer(wait)), deadline
	// A yield (wait nil: osyield, which the runtime also calls at every
	// scheduling point) goes to a thread that waits for something it
	// now has, never to an idle one.
	if k := pick(c.thr[:], me, nanotime, wait == nil, load32, atomic.LoadUint32(&c.pokes)); k >= 0 {
		c.switchTo(me, k, threadWaiting)
		return
	}
	if wait != nil && c != &cpus[0] {
		cpu.WaitForEvent()
	}
}

// wake is the runtime's goosWake: CPU procid looks again at what its
// threads wait for, its idle ones included (pokes). On the caller's own
// CPU that is all (they run when the caller parks or idles); another is
// sent an event (it may be in WFE), and the boot CPU, once it takes them,
// the kick SGI (it may be in WFI, or running the guest).
//
//go:nosplit
func wake(procid uint64) {
	if procid >= maxCPUs {
		return
	}
	// Its idle threads look again: an M idling there holds a P the
	// runtime needs at a safe point (forEachP, a stop), or that has work.
	// Without it, with the caller on that CPU, they never would: the
	// runtime's wait for them spins in a yield, which never picks an idle
	// thread.
	atomic.AddUint32(&cpus[procid].pokes, 1)
	if ncpus.Load() == 1 || procid == procID() {
		return
	}
	cpu.SendEvent()
	if atomic.LoadUint32(&cpus[procid].kick) != 0 {
		cpu.WriteICC_SGI1R_EL1(sgi1r(cpus[procid].mpidr, kickINTID))
	}
}

// kickINTID is the SGI Wake sends (EnableKicks).
var kickINTID uint32

// idleHook is Ferry's idle (hyp.Machine.Idle), run by the boot CPU's idle
// thread when nothing else of its can run, unless busyHook says the
// guest's goroutine is in the middle of something.
var (
	idleHook func(until int64)
	busyHook func() bool
)

// SetIdle makes f what the boot CPU does when its Go has nothing to do:
// f(until) returns by until (0: no deadline), or earlier. With several
// threads on the boot CPU, f does not run while busy reports true (the
// vCPU goroutine runs on another of its threads, which waits mid-exit for
// a lock another CPU holds: f's interrupts and WFI are the vCPU
// goroutine's to order); the idle thread then returns to the scheduler.
func SetIdle(f func(until int64), busy func() bool) { idleHook, busyHook = f, busy }

// EnableKicks makes Wake send SGI intid to CPU i, whose GIC now takes it
// (its redistributor enables it as one of Ferry's own): the boot CPU once
// hyp set up the GIC, a secondary once it runs a vCPU and so may be in
// the guest or in WFI.
func EnableKicks(intid uint32, i int) {
	kickINTID = intid
	atomic.StoreUint32(&cpus[i].kick, 1)
}

// Kick wakes CPU i (Wake): out of the guest, once its kicks are enabled.
func Kick(i int) { wake(uint64(i)) }

// idle is goos.Idle: an M with nothing to run. Another thread of this CPU
// that waits for something it now has runs first. Otherwise the boot CPU
// runs Ferry's idle until the Go timer's deadline or the earliest of its
// waiting threads', and a secondary (an M not yet locked to it) waits for
// an event.
func idle(until int64) {
	id := procID()
	c := &cpus[id]
	shared := atomic.LoadUint32(&c.nthr) > 1
	if shared {
		atomic.StoreUint32(&c.thr[c.cur].seen, atomic.LoadUint32(&c.pokes))
		if k := pick(c.thr[:], c.cur, nanotime, true, load32, atomic.LoadUint32(&c.pokes)); k >= 0 {
			c.switchTo(c.cur, k, threadIdle)
			return
		}
	}
	if id != 0 {
		cpu.WaitForEvent()
		return
	}
	if shared && busyHook != nil && busyHook() {
		return
	}
	if d := earliest(c.thr[:]); d > 0 && (until == 0 || d < until) {
		until = d
	}
	if idleHook != nil {
		idleHook(until)
	}
}

// threadExited is where a thread's function returned: an M whose locked
// goroutine exited, which Ferry never lets happen.
func threadExited() {
	print("ferry: cpu ", procID(), ": a thread's M exited: halted\n")
	for {
		cpu.WaitForInterrupt()
	}
}

// psciCPUOn is PSCI CPU_ON, SMC64 (Arm DEN 0022 5.1.4).
const psciCPUOn = 0xc4000003

// psciErrors are PSCI's return codes (Arm DEN 0022 5.2.2).
var psciErrors = map[int64]string{
	-1: "NOT_SUPPORTED", -2: "INVALID_PARAMETERS", -3: "DENIED", -4: "ALREADY_ON",
	-5: "ON_PENDING", -6: "INTERNAL_FAILURE", -7: "NOT_PRESENT", -8: "DISABLED", -9: "INVALID_ADDRESS",
}

// onlineWait bounds how long a CPU takes from CPU_ON to online.
const onlineWait = 200 * time.Millisecond

// StartSecondaries starts the CPUs of the board's DTB other than the boot
// one, at most want-1 of them (want 0: all), through PSCI CPU_ON at
// secondaryEntry, and waits for each to be online. It returns the indexes
// of the ones that are (CPU numbers them), and why each other one is not.
// Until EndBringUp, the runtime's next new M goes to one of them that has
// none (task).
func StartSecondaries(b *dtb.Board, want int) ([]int, []error) {
	var up []int
	var errs []error
	if b.PSCIMethod != "smc" {
		for _, c := range b.CPUs {
			if c.MPIDR != cpus[0].mpidr {
				errs = append(errs, fmt.Errorf("%s: no PSCI over SMC to start it with (method %q)", c.Path, b.PSCIMethod))
			}
		}
		return nil, errs
	}
	secondaryBoot = smpBoot{vbar: cpu.ReadVBAR_EL2(), mair: cpu.ReadMAIR_EL2(), tcr: cpu.ReadTCR_EL2(), ttbr0: cpu.ReadTTBR0_EL2(), sctlr: cpu.ReadSCTLR_EL2()}
	cpu.CleanDcache(uint64(uintptr(unsafe.Pointer(&secondaryBoot))), uint64(unsafe.Sizeof(secondaryBoot)))
	placing.Store(true)
	for _, c := range b.CPUs {
		n := int(ncpus.Load())
		switch {
		case c.MPIDR == cpus[0].mpidr:
			continue
		case want > 0 && len(up)+1 >= want:
			continue
		case n == maxCPUs:
			errs = append(errs, fmt.Errorf("%s: more than %d CPUs", c.Path, maxCPUs))
			continue
		case c.EnableMethod != "psci":
			errs = append(errs, fmt.Errorf("%s: enable-method %q, not psci", c.Path, c.EnableMethod))
			continue
		}
		// Each start takes a new index, kept even if the CPU does not
		// come up: one that does later must not share another's.
		cpus[n].mpidr = c.MPIDR
		ncpus.Store(int32(n + 1))
		r := cpu.SMC([8]uint64{psciCPUOn, c.MPIDR, uint64(secondaryEntryPC()), uint64(n)})
		if ret := int64(r[0]); ret != 0 {
			errs = append(errs, fmt.Errorf("%s (MPIDR %#x): CPU_ON: %s (%d)", c.Path, c.MPIDR, psciErrors[ret], ret))
			continue
		}
		deadline := time.Now().Add(onlineWait)
		for atomic.LoadUint32(&cpus[n].online) == 0 && time.Now().Before(deadline) {
		}
		if atomic.LoadUint32(&cpus[n].online) == 0 {
			errs = append(errs, fmt.Errorf("%s (MPIDR %#x): not online %v after CPU_ON", c.Path, c.MPIDR, onlineWait))
			continue
		}
		up = append(up, n)
	}
	return up, errs
}

// EndBringUp ends the secondaries' bring-up: every M the runtime starts
// from now on goes to the boot CPU, so a goroutine that is not locked to
// a secondary's M always runs there.
func EndBringUp() { placing.Store(false) }

// CPU returns the index of the CPU the calling goroutine runs on (0: the
// boot CPU). Only a goroutine locked to its M (runtime.LockOSThread) stays
// there.
func CPU() int { return int(procID()) }

// MPIDR returns CPU i's affinity.
func MPIDR(i int) uint64 { return cpus[i].mpidr }

// ErrNoCPU is LockToCPU's when the CPU carries no M it could lock to.
var ErrNoCPU = errors.New("no M of the runtime on that CPU")

// LockToCPU locks the calling goroutine to secondary CPU i's M, for good:
// it waits (a bounded while) until the scheduler runs it there, trying
// again on every other CPU. It yields between tries (runtime.Gosched: the
// global run queue, which every M with nothing to do looks at, where a
// sleep's timer would wake it only on the P it slept on). A goroutine
// locked to a secondary must never return (its M would exit).
func LockToCPU(i int, within time.Duration) error {
	deadline := time.Now().Add(within)
	for try := 1; ; try++ {
		runtime.LockOSThread()
		if CPU() == i {
			return nil
		}
		runtime.UnlockOSThread()
		if time.Now().After(deadline) {
			return fmt.Errorf("cpu %d: %w after %v (%d tries)", i, ErrNoCPU, within, try)
		}
		runtime.Gosched()
		if try%64 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
}
