// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/mmu"
)

// The run loop over fakes (hardware_test.go): the guest is entered only
// when Ferry's goroutines are idle, with the EL2 timer armed for their
// next deadline and its WFI its own; its own interrupt is listed for it
// without giving Ferry the CPU; Ferry's timer gives it back.
func TestRunEntersWhenFerryIsIdle(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	const guestTimer = 27 // the guest's virtual timer PPI
	h.script = append(h.script,
		after(time.Millisecond, irqExit(guestTimer)),
		after(6*time.Millisecond, irqExit(qemuTick)),
	)
	deadline := h.now + int64(7*time.Millisecond)
	tm.start()
	tm.idle(t, deadline) // Ferry's next Go timer: 7 ms ahead
	tm.idle(t, 0)        // after it, nothing of Ferry's is due
	tm.end(t)

	e := h.entries
	if len(e) != 3 {
		t.Fatalf("%d entries, want 3", len(e))
	}
	if e[0].timer != deadline || e[0].twi {
		t.Errorf("first entry: timer %d (want Ferry's deadline %d), WFI trapped %v", e[0].timer-e[0].now, deadline-e[0].now, e[0].twi)
	}
	if e[1].timer != deadline || e[1].lrs != 1 || e[1].twi {
		t.Errorf("after the guest's interrupt: timer %d, %d list registers valid, WFI trapped %v; want the same deadline, its interrupt listed", e[1].timer-e[1].now, e[1].lrs, e[1].twi)
	}
	if e[2].timer != 0 || e[2].twi {
		t.Errorf("after Ferry's timer: timer %d, WFI trapped %v; want it off (no deadline)", e[2].timer, e[2].twi)
	}
	// The guest's interrupt: dropped, left active for the guest (HW);
	// Ferry's tick: dropped and deactivated by Ferry.
	if !slices.Equal(h.dropped, []uint32{guestTimer, qemuTick}) || !slices.Equal(h.deactivated, []uint32{qemuTick}) {
		t.Errorf("dropped %v, deactivated %v", h.dropped, h.deactivated)
	}
	if got := tm.ExitCauses(); got["irq"] != 1 || got["timer"] != 1 || got["other"] != 1 || tm.Exits() != 3 {
		t.Errorf("exits %d, causes %v", tm.Exits(), got)
	}
	// The guest stopped at its unhandled exit: quiesced, the interrupt
	// Ferry acknowledged for it ended.
	if tm.Ctl.State() != GuestStopped || h.timersOff != 1 || !slices.Equal(tm.vfake.Deactivated, []uint32{qemuTick, guestTimer}) {
		t.Errorf("after the stop: state %v, timers stopped %d times, deactivated %v", tm.Ctl.State(), h.timersOff, tm.vfake.Deactivated)
	}
}

// An interrupt of Ferry's taken in its idle WFI (the vCPU goroutine not
// waiting: the guest paused, say) is not the cause of the guest's next
// exit: a trap of the guest after it does not give Ferry the CPU.
func TestIdleInterruptIsNotTheNextExit(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	h.wfi = func(h *fakeHW) { h.pend = append(h.pend, tm.Desc.MgmtNIC) }
	tm.Idle(h.now + int64(time.Millisecond))
	if tm.mgmtIRQs != 1 || h.wfis != 1 || h.timer != h.now+int64(time.Millisecond) {
		t.Fatalf("idle: NIC taken %d times, %d WFIs, timer %d", tm.mgmtIRQs, h.wfis, h.timer-h.now)
	}
	h.script = append(h.script, hvcExit)
	done := make(chan error, 1)
	go func() {
		for range 2 { // the HVC, then the end of the script
			if err := tm.step(); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	tm.idle(t, 0) // Idle used the timer: the guest's deadline is set again first
	select {
	case err := <-done:
		if err == nil || len(h.entries) != 2 {
			t.Fatalf("steps: %v, %d entries", err, len(h.entries))
		}
	case <-tm.bell.waiting:
		t.Fatal("the guest's HVC gave Ferry the CPU: the idle WFI's NIC interrupt was taken for its exit's")
	case <-time.After(10 * time.Second):
		t.Fatal("the steps did not end")
	}
}

// Ferry's goroutines busy (a flood on the management link): once they
// have held the CPU for their share, Yield gives the guest a slice, which
// Ferry's NIC interrupt does not cut short and the guest's WFI ends.
func TestRunSliceWhenFerryIsBusy(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	h.script = append(h.script, irqExit(tm.Desc.MgmtNIC), after(time.Millisecond, wfiExit))
	tm.start()
	tm.waited(t)
	tm.Yield() // not yet: Ferry has not used its share
	h.now += int64(shareFerry)
	tm.Yield()
	tm.waited(t) // the guest's WFI ended its slice
	tm.Idle(0)
	tm.end(t)

	e := h.entries
	if len(e) != 3 {
		t.Fatalf("%d entries, want 3", len(e))
	}
	if !e[0].twi || e[0].timer != e[0].now+int64(shareGuest) {
		t.Errorf("the slice: WFI trapped %v, timer %v ahead; want trapped, %v", e[0].twi, time.Duration(e[0].timer-e[0].now), shareGuest)
	}
	if !e[1].twi || e[1].timer != e[0].timer {
		t.Errorf("after the NIC's interrupt: WFI trapped %v, timer %d; want the same slice", e[1].twi, e[1].timer)
	}
	if e[2].twi || e[2].timer != 0 {
		t.Errorf("after the slice: WFI trapped %v, timer %d; want the guest's own WFI, no deadline", e[2].twi, e[2].timer)
	}
	if tm.mgmtIRQs != 1 {
		t.Errorf("NIC interrupt taken %d times", tm.mgmtIRQs)
	}
}

// During a migration the guest and Ferry share the CPU in slices: the
// guest's slice is armed on the EL2 timer, its WFI traps and lends Ferry
// the CPU until the guest's next timer, and tracking ends if the guest
// stops.
func TestRunTrackingSlices(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	h.script = append(h.script,
		after(guestSlice, irqExit(qemuTick)), // the guest's slice is over
		func(h *fakeHW, c *cpu.Context) uint64 {
			h.guestTimers[0] = GuestTimer{Ctl: timerEnable, At: h.now + int64(2*time.Millisecond)}
			h.guestTimers[1] = GuestTimer{Ctl: timerEnable | timerIMask, At: h.now} // masked: no wake-up
			return wfiExit(h, c)
		},
	)
	tm.start()
	tm.waited(t)
	if err := tm.track(); err != nil { // the migration starts: the vCPU stops waiting
		t.Fatal(err)
	}
	tm.end(t)

	e := h.entries
	if len(e) != 3 {
		t.Fatalf("%d entries, want 3", len(e))
	}
	for i, x := range e[:2] {
		if !x.twi || x.timer != x.now+int64(guestSlice) {
			t.Errorf("entry %d: WFI trapped %v, slice %v; want trapped, %v", i, x.twi, time.Duration(x.timer-x.now), guestSlice)
		}
	}
	if got := time.Duration(tm.trk.sliceEnd - h.now); got != 2*time.Millisecond {
		t.Errorf("the guest's WFI gave Ferry a slice of %v, want 2ms (its next timer)", got)
	}
	if tm.trk.on || h.twi {
		t.Errorf("the guest stopped while tracking: tracking on %v, WFI trapped %v", tm.trk.on, h.twi)
	}
	if !slices.ContainsFunc(h.log, func(s string) bool { return strings.HasPrefix(s, "dirty tracking off") }) {
		t.Errorf("log %q", h.log)
	}
}

// The guest's WFI during a migration: with an interrupt pending, or a
// timer of its own already due, it returns at once; otherwise Ferry's
// slice lasts until the guest's next timer, at most ferrySlice. Outside a
// migration it ends the guest's slice.
func TestGuestIdle(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	tm.trk = tracking{on: true, guest: guestSlice}
	h.pending = true
	h.guestTimers[0] = GuestTimer{Ctl: timerEnable, At: h.now + int64(time.Millisecond)}
	tm.guestIdle()
	if tm.trk.sliceEnd != 0 {
		t.Error("a slice with an interrupt pending")
	}
	h.pending = false
	h.guestTimers[0].At = h.now
	tm.guestIdle()
	if tm.trk.sliceEnd != 0 {
		t.Error("a slice with the guest's timer due")
	}
	h.guestTimers[0] = GuestTimer{} // off
	tm.guestIdle()
	if got := time.Duration(tm.trk.sliceEnd - h.now); got != ferrySlice {
		t.Errorf("no timer of the guest's: a slice of %v, want %v", got, ferrySlice)
	}
	tm.throttle(0.5)
	if tm.trk.guest != guestSlice/2 {
		t.Errorf("throttled by half: the guest's slice is %v", tm.trk.guest)
	}
	tm.throttle(1)
	if tm.trk.guest != minGuestSlice {
		t.Errorf("throttled fully: the guest's slice is %v", tm.trk.guest)
	}

	tm.trk = tracking{}
	tm.share.Enter(h.now, false, 0) // a slice the guest is owed
	tm.guestIdle()
	if !tm.share.Exit(h.now, false, false) {
		t.Error("the guest's WFI did not end its slice")
	}
}

// Dirty tracking's bookkeeping: a write fault marks the page, makes it
// writable and invalidates what it must (the written VA's entries, or
// everything when the page was writable already or the VA is unknown);
// a device's DMA marks pages; a harvest hands them over and protects them
// again; untrack puts RAM back on blocks.
func TestTrackingBookkeeping(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	page := func(i uint64) uint64 { return testRAMBase + i*mmu.PageSize }
	if tm.writeFault(page(3), 0xffff_0000_1000, true) {
		t.Fatal("a write fault taken with tracking off")
	}
	if err := tm.track(); err != nil {
		t.Fatal(err)
	}
	if !h.twi || h.flushes != 1 {
		t.Errorf("track: WFI trapped %v, %d flushes", h.twi, h.flushes)
	}
	if err := tm.track(); err == nil {
		t.Error("tracking started twice")
	}
	writable := func(ipa uint64) bool { _, _, w, _, _ := tm.Stage2.Lookup(ipa); return w }
	if writable(page(3)) {
		t.Fatal("RAM writable while tracking")
	}
	if !tm.writeFault(page(3)+0x10, 0xffff_0000_1010, true) || !writable(page(3)) || !slices.Equal(h.invWrite, []uint64{page(3) + 0x10}) || len(h.invPage) != 0 {
		t.Fatalf("first fault: writable %v, VA invalidations %#x, page invalidations %#x", writable(page(3)), h.invWrite, h.invPage)
	}
	// Another VA of the same page, its stale entry read-only: everything.
	if !tm.writeFault(page(3), 0xffff_0000_8000, true) || !slices.Equal(h.invPage, []uint64{page(3)}) {
		t.Fatalf("second fault on the page: page invalidations %#x", h.invPage)
	}
	// A stage-1 walk's descriptor update: no VA.
	if !tm.writeFault(page(7), 0, false) || !slices.Equal(h.invPage, []uint64{page(3), page(7)}) {
		t.Fatalf("walk fault: page invalidations %#x", h.invPage)
	}
	if tm.writeFault(testRAMBase+testRAMSize, 0, false) || tm.writeFault(testRAMBase-mmu.PageSize, 0, false) {
		t.Error("a fault outside guest RAM taken")
	}
	tm.dmaWrote(page(9)-1, 2) // the last byte of page 8, the first of 9
	if tm.trk.faults.Load() != 2 {
		t.Errorf("%d faults counted, want 2 (a page counts once)", tm.trk.faults.Load())
	}
	flushes := h.flushes
	d, err := tm.harvest()
	if err != nil {
		t.Fatal(err)
	}
	var got []uint64
	for i := range d.Len() {
		if d.Test(i) {
			got = append(got, i)
		}
	}
	if !slices.Equal(got, []uint64{3, 7, 8, 9}) || h.flushes != flushes+1 || writable(page(3)) || writable(page(7)) {
		t.Fatalf("harvest: pages %v, flushes %d, page 3 writable %v", got, h.flushes-flushes, writable(page(3)))
	}
	if d, _ := tm.harvest(); d.Count() != 0 {
		t.Errorf("a second harvest has %d pages", d.Count())
	}
	if !tm.writeFault(page(3), 0xffff_0000_1000, true) {
		t.Error("a page harvested did not fault again")
	}
	tm.untrack()
	if h.twi || tm.trk.on || !writable(page(100)) {
		t.Errorf("untrack: WFI trapped %v, tracking %v", h.twi, tm.trk.on)
	}
	if _, err := tm.harvest(); err == nil {
		t.Error("harvest with tracking off")
	}
	tm.dmaWrote(page(1), 1) // nothing to mark
}

// The sink's steps on guest RAM: a page's data is stored and cleaned to
// the point of coherency, a zero page costs nothing where no guest wrote
// and clears a page one did; nothing outside guest RAM; Restore does the
// cache and TLB maintenance after the components; ClearRAM zeroes RAM.
func TestSinkSteps(t *testing.T) {
	tm := newTestMachine(t, GuestNone)
	h := tm.hw
	s := tm.Sink()
	data := bytes.Repeat([]byte{0xa5}, mmu.PageSize)
	if err := s.WritePage(testRAMBase, data); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.ram[:mmu.PageSize], data) || len(h.cleaned) != 1 || h.cleaned[0].Base != testRAMBase {
		t.Fatalf("a page written: cleaned %v", h.cleaned)
	}
	h.ram[mmu.PageSize] = 1 // firmware's leftovers, in a page no guest wrote
	if err := s.WritePage(testRAMBase+mmu.PageSize, nil); err != nil || h.ram[mmu.PageSize] != 1 || len(h.cleaned) != 1 {
		t.Errorf("a zero page where no guest wrote: %v, cleaned %v", err, h.cleaned)
	}
	if err := s.WritePage(testRAMBase, nil); err != nil || h.ram[0] != 0 || len(h.cleaned) != 2 {
		t.Errorf("a zero page where one was written: %v, byte %#x, cleaned %v", err, h.ram[0], h.cleaned)
	}
	for _, ipa := range []uint64{testRAMBase - mmu.PageSize, testRAMBase + testRAMSize, testRAMBase + testRAMSize - 1} {
		if err := s.WritePage(ipa, data); err == nil {
			t.Errorf("page %#x outside guest RAM written", ipa)
		}
		if v := s.PageView(ipa); v != nil {
			t.Errorf("page %#x outside guest RAM shown", ipa)
		}
	}
	if v := s.PageView(testRAMBase); len(v) != mmu.PageSize || &v[0] != &h.ram[0] {
		t.Error("PageView is not the page in place")
	}

	src := newTestMachine(t, GuestRunning)
	src.fake.cpu, src.fake.timer = sample(t).cpu, cpu.Timer{VirtCount: 1 << 40}
	states := captureAll(t, src.reg)
	if err := s.Restore(states[:2]); err == nil || h.icache != 0 || h.flushes != 0 {
		t.Errorf("a partial state restored (%v), or maintenance done: icache %d, flushes %d", err, h.icache, h.flushes)
	}
	if err := s.Restore(states); err != nil || h.icache != 1 || h.flushes != 1 {
		t.Errorf("restore: %v, icache %d, flushes %d", err, h.icache, h.flushes)
	}

	for i := range h.ram {
		h.ram[i] = 0xff
	}
	tm.ClearRAM()
	if bytes.ContainsFunc(h.ram, func(r rune) bool { return r != 0 }) || h.cleaned[len(h.cleaned)-1] != tm.Desc.RAM[0] {
		t.Errorf("ClearRAM: RAM not zero, or not cleaned (%v)", h.cleaned[len(h.cleaned)-1])
	}
}

// The source's pause: the vCPU stops at its next look at Control (here,
// as Ferry goes idle), the CPU and timer are captured at once, the rest
// after; Resume lets it run on. Given up instead, the guest is silenced
// and every page is taken to be written, for a guest that comes back.
func TestSourcePauseResumeGiveUp(t *testing.T) {
	for _, giveUp := range []bool{false, true} {
		tm := newTestMachine(t, GuestRunning)
		h := tm.hw
		tm.fake.cpu, tm.fake.timer = sample(t).cpu, cpu.Timer{VirtCount: 1 << 40}
		// Ferry's tick, again and again until the pause stops the guest
		// (a fixed number of them could run out first on a loaded
		// machine, and the guest stop at the script's end).
		var tick func(h *fakeHW, c *cpu.Context) uint64
		tick = func(h *fakeHW, c *cpu.Context) uint64 {
			h.script = append(h.script, tick)
			return irqExit(qemuTick)(h, c)
		}
		h.script = append(h.script, tick)
		tm.start()
		src := tm.Source(false)
		paused := make(chan error, 1)
		go func() { paused <- src.Pause() }()
		tm.idle(t, 0)
	wait:
		for {
			select {
			case err := <-paused:
				if err != nil {
					t.Fatal(err)
				}
				break wait
			case <-tm.bell.waiting: // Ferry's timer: the vCPU looks at Control again once Ferry is idle
				tm.Idle(0)
			case <-time.After(10 * time.Second):
				t.Fatal("the pause did not stop the guest")
			}
		}
		if tm.Ctl.State() != GuestPaused || slices.ContainsFunc(h.log, func(s string) bool { return strings.HasPrefix(s, "guest paused in") }) {
			t.Fatalf("state %v, log %q (nothing is logged inside the switchover)", tm.Ctl.State(), h.log)
		}
		states, err := src.States()
		if err != nil || len(states) != 5 || states[0].Name != stateCPU || states[2].Name != stateGIC {
			t.Fatalf("states: %v, %d", err, len(states))
		}
		if s := tm.Switchover(); !strings.HasPrefix(s, "guest paused in AArch64 EL0t at PC 0x0; ") || stripDurations(s[strings.Index(s, "captured ")+len("captured "):]) != "cpu , timer , gic , gic-vif , uart " {
			t.Fatalf("switchover %q: want where the guest paused and every capture", s)
		}
		if f := src.Fingerprint(); f.MIDR != 0x410fd083 || len(f.RAM) != 1 || !slices.Equal(f.CPUs, []uint64{0x80000000}) {
			t.Errorf("fingerprint %+v", f)
		}
		h.script = nil
		entries := len(h.entries)
		if !giveUp {
			src.Resume()
			tm.end(t)
			if len(h.entries) != entries+1 {
				t.Errorf("resumed: %d entries, want %d", len(h.entries), entries+1)
			}
			continue
		}
		stopped := h.timersOff
		src.GiveUp()
		// The board waits for the next guest: a sink's Resume starts it.
		if err := tm.Sink().Resume(); err != nil {
			t.Fatal(err)
		}
		tm.waited(t)
		h.ram[0] = 1
		if err := tm.Sink().WritePage(testRAMBase, nil); err != nil || h.ram[0] != 0 {
			t.Errorf("after the guest went: a zero page left %#x (%v): its pages are the old guest's", h.ram[0], err)
		}
		if h.timersOff != stopped+1 {
			t.Errorf("given up: timers stopped %d times more, want 1", h.timersOff-stopped)
		}
		tm.Idle(0)
		tm.end(t)
		if len(h.entries) != entries+1 {
			t.Errorf("the next guest: %d entries, want %d", len(h.entries), entries+1)
		}
	}
}

// TestExitTimes: the time Ferry takes to handle an exit is counted under
// its cause, one exit in timeEvery timed and counted for timeEvery -- here
// the 16th, a hypercall that takes none of it, and the 32nd, an
// acknowledge of one of the guest's interrupts, which takes the fake's
// clock 3 µs further.
func TestExitTimes(t *testing.T) {
	tm := newTestMachine(t, GuestRunning)
	h := tm.hw
	h.ackCost = int64(3 * time.Microsecond)
	const guestTimer = 27
	for i := 1; i <= 2*timeEvery; i++ {
		if i == timeEvery {
			h.script = append(h.script, hvcExit)
			continue
		}
		h.script = append(h.script, irqExit(guestTimer))
	}
	tm.start()
	tm.idle(t, 0)
	tm.end(t)
	times, causes := tm.ExitTimes(), tm.ExitCauses()
	if causes["irq"] != 2*timeEvery-1 || causes["hvc"] != 1 {
		t.Fatalf("causes %v", causes)
	}
	if want := uint64(timeEvery * h.ackCost); h.acks != 2*timeEvery-1 || times["irq"] != want {
		t.Errorf("irq exits took %d ns, want %d (one of %d acknowledges of %d ns, timed, for %d)", times["irq"], want, h.acks, h.ackCost, timeEvery)
	}
	if times["hvc"] != 0 || len(times) != 1 {
		t.Errorf("times %v: only the interrupts took any", times)
	}
}
