// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/mmu"
)

// Ferry's and the guest's slices of the CPU while a migration runs. The
// guest runs for guestSlice (less auto-converge's throttle), then Ferry's
// goroutines for ferrySlice: the EL2 timer takes the CPU back from the
// guest, the vCPU goroutine rests, and the migration yields when its slice
// is over (Yield). The guest's own interrupts and timers are untouched. A
// management NIC's interrupt during the guest's slice only wakes its poller,
// which runs in Ferry's next slice.
const (
	ferrySlice    = 5 * time.Millisecond
	guestSlice    = 10 * time.Millisecond
	minGuestSlice = 100 * time.Microsecond
)

// tracking is dirty tracking and CPU sharing during a migration.
type tracking struct {
	on  bool
	log *dirty.Bitmap // pages written since the last harvest
	// Every vCPU's write faults count here, each from its own CPU.
	faults  atomic.Uint64
	faultNS atomic.Int64 // time the fault handler took, all faults it handled

	guest time.Duration // the guest's slice, after the throttle
	// cut is auto-converge's throttle in parts of cutOne, which the other
	// vCPUs read from their CPUs (throttleVCPU).
	cut      atomic.Uint32
	start    int64 // Nanotime at Track
	ferry    int64 // ns Ferry's slices took since Track
	sliceEnd int64 // Nanotime at which Ferry's current slice ends
}

// writeFault is the dirty-fault path: mark, make writable, invalidate,
// back to the guest. It runs on the faulting vCPU's goroutine, any vCPU's,
// on its own CPU: the log is atomic, each page's descriptor is one
// word, and tracking starts and ends with every other vCPU held
// (track, untrack).
func (m *Machine) writeFault(ipa, va uint64, vaValid bool) bool {
	t := &m.trk
	if !t.on || !m.inRAM(ipa&^(mmu.PageSize-1)) {
		return false
	}
	start := m.hw.Now()
	was, err := m.Stage2.SetPageWritable(ipa, true)
	if err != nil {
		return false
	}
	if vaValid && !was {
		m.hw.InvalidateGuestWrite(ipa, va)
	} else {
		// A walk's descriptor update, or a stale entry of another VA of a
		// page already writable: everything.
		m.hw.InvalidateGuestPage(ipa)
	}
	if t.log.Set((ipa - m.Desc.RAM[0].Base) / mmu.PageSize) {
		t.faults.Add(1)
	}
	t.faultNS.Add(m.hw.Now() - start)
	return true
}

// track starts dirty tracking: RAM split into read-only pages, the CPU
// shared in slices from the guest's next entry on. The other vCPUs are
// held meanwhile: a vCPU that touched a block between its break and its
// table would take a fault no handler owns.
func (m *Machine) track() error {
	if m.trk.on {
		return fmt.Errorf("dirty tracking is already on")
	}
	if err := m.holdSecondaries(); err != nil {
		return fmt.Errorf("dirty tracking: %w", err)
	}
	defer m.releaseSecondaries()
	for _, r := range m.Desc.RAM {
		if _, _, err := m.Stage2.TrackWrites(r.Base, r.Size); err != nil {
			m.merge()
			return fmt.Errorf("write-protecting guest RAM %#x+%#x: %w", r.Base, r.Size, err)
		}
	}
	m.hw.FlushStage2()
	m.hw.TrapWFI(true)
	now := m.hw.Now()
	m.trk = tracking{on: true, log: dirty.New(m.pages()), guest: guestSlice, start: now, sliceEnd: now + int64(ferrySlice)}
	m.rearm = true // the guest's first slice is armed when it is next entered
	m.wake()
	return nil
}

// harvest returns the pages written since the last harvest and protects
// them again.
func (m *Machine) harvest() (*dirty.Bitmap, error) {
	if !m.trk.on {
		return nil, fmt.Errorf("dirty tracking is off")
	}
	h := dirty.New(m.trk.log.Len())
	base := m.Desc.RAM[0].Base
	var err error
	m.trk.log.Harvest(func(i uint64) {
		h.Set(i)
		if _, e := m.Stage2.SetPageWritable(base+i*mmu.PageSize, false); e != nil && err == nil {
			err = e
		}
	})
	m.hw.FlushStage2()
	return h, err
}

// untrack ends tracking: blocks again, the guest's full slices back.
// The other vCPUs are held while the blocks are merged (as in track);
// where they cannot be (a CPU that does not answer), the pages stay
// split, writable -- slower, never wrong.
func (m *Machine) untrack() {
	merged, blocks := 0, 0
	if err := m.holdSecondaries(); err != nil {
		m.unprotect()
		if m.VCPU.Log != nil {
			m.VCPU.Log(fmt.Sprintf("dirty tracking off, guest RAM left on pages: %v", err))
		}
	} else {
		merged, blocks = m.merge()
		m.releaseSecondaries()
	}
	m.hw.TrapWFI(false)
	m.trk.on = false
	if m.VCPU.Log != nil {
		m.VCPU.Log(fmt.Sprintf("dirty tracking off: guest RAM back on 2 MiB blocks (%d of %d merged), %d dirty faults taken", merged, blocks, m.trk.faults.Load()))
	}
}

// merge puts guest RAM back on 2 MiB blocks; it returns how many were
// merged of how many RAM has.
func (m *Machine) merge() (merged, blocks int) {
	for _, r := range m.Desc.RAM {
		n, err := m.Stage2.Merge(r.Base, r.Size)
		if err != nil && m.VCPU.Log != nil {
			m.VCPU.Log(fmt.Sprintf("dirty tracking: merging %#x+%#x back into blocks: %v", r.Base, r.Size, err))
		}
		merged += n
		blocks += int(r.Size / mmu.BlockSize)
	}
	m.hw.FlushStage2()
	return merged, blocks
}

// unprotect makes every page of guest RAM writable where it is, split or
// not: tracking's end where the blocks cannot be merged.
func (m *Machine) unprotect() {
	for _, r := range m.Desc.RAM {
		for ipa := r.Base; ipa < r.End(); ipa += mmu.PageSize {
			m.Stage2.SetPageWritable(ipa, true) // a page still in a block: nothing to do
		}
	}
	m.hw.FlushStage2()
}

// throttle cuts the guest's time by t (auto-converge): vCPU 0's slice,
// and every other vCPU's share of its CPU (throttleWait).
func (m *Machine) throttle(t float64) {
	m.trk.guest = max(time.Duration(float64(guestSlice)*(1-t)), minGuestSlice)
	m.trk.cut.Store(uint32(min(max(t, 0), 1) * cutOne))
}

// cutOne is a whole cut (tracking.cut): the guest gets none of its CPUs.
const cutOne = 1 << 16

// maxThrottleWait bounds one wait of a throttled vCPU (a guest's slice).
const maxThrottleWait = guestSlice

// throttleWait is how long a vCPU other than vCPU 0 waits out of the
// guest after it ran ran in it, auto-converge's cut being cut (of
// cutOne): so that the guest keeps 1-cut of that CPU, as of vCPU 0's
// (whose slices the cut shortens), at most maxThrottleWait at a time.
func throttleWait(ran time.Duration, cut uint32) time.Duration {
	if cut == 0 || ran <= 0 {
		return 0
	}
	if cut >= cutOne {
		return maxThrottleWait
	}
	c := float64(cut) / cutOne
	return min(time.Duration(float64(ran)*c/(1-c)), maxThrottleWait)
}

// throttleVCPU waits on secondary s's CPU, out of the guest, for the part
// of the time it just ran (since entered) that auto-converge cuts;
// a hold or work for it ends the wait.
func (m *Machine) throttleVCPU(s *secondary, entered int64) {
	now := m.hw.Now()
	until := now + int64(throttleWait(time.Duration(now-entered), m.trk.cut.Load()))
	for now < until && !s.hold.Load() && s.work.Load() == nil {
		m.hw.WaitForEvent()
		now = m.hw.Now()
	}
}

// cpuTimes is the guest's and Ferry's time since track.
func (m *Machine) cpuTimes() (guest, ferry time.Duration) {
	if m.trk.start == 0 {
		return 0, 0
	}
	wall := m.hw.Now() - m.trk.start
	return time.Duration(wall - m.trk.ferry), time.Duration(m.trk.ferry)
}

// Yield gives the CPU back to the guest when Ferry's slice is over; a
// migration calls it between two pieces of work, and so does every
// goroutine of Ferry's that loops while work keeps coming (the
// management NIC's poller). While tracking, that is the end of Ferry's slice; otherwise,
// while the guest waits for Ferry's goroutines to be idle, the end of
// Ferry's share (share.go): the vCPU goroutine then runs next and enters
// the guest for its slice. With the guest stopped, or none, it does
// nothing.
func (m *Machine) Yield() {
	switch {
	case m.trk.on:
		if m.hw.Now() >= m.trk.sliceEnd {
			runtime.Gosched()
		}
	case m.idleWait && m.share.Due(m.hw.Now()):
		m.idleWait, m.busy, m.deadline = false, true, 0
		m.idle.Ring()
		runtime.Gosched()
	}
}

// slice is Ferry's slice of at most d during a migration: the vCPU
// goroutine rests (others run) until the slice is over or the guest is to
// stop, and the timer then gives the guest its own slice.
func (m *Machine) slice(d time.Duration) {
	start := m.hw.Now()
	m.trk.sliceEnd = start + int64(d)
	m.lend(func() { m.Ctl.Rest(d) })
	m.trk.ferry += m.hw.Now() - start
	m.rearm = false
	m.armSlice()
}

// guestIdle takes a WFI of the guest during a migration (HCR_EL2.TWI): the
// guest has nothing to do until its next interrupt, so Ferry uses the CPU
// until then -- its next timer deadline, or a slice at most -- rather than
// let it sleep through time the migration needs. An idle guest then gives
// the migration nearly all of the CPU and loses nothing: it is woken when
// it asked to be. With an interrupt already pending it returns at once.
//
// Outside a migration a WFI traps only in a slice the guest was owed
// (share.go): it ends the slice, and Ferry's goroutines have the CPU.
func (m *Machine) guestIdle() {
	if m.hw.Pending() || m.vif.GuestPending() {
		return
	}
	if !m.trk.on {
		m.share.Idled()
		return
	}
	now := m.hw.Now()
	d := ferrySlice
	for _, t := range m.hw.GuestTimers() {
		if !t.fires() {
			continue
		}
		if t.At <= now {
			return
		}
		d = min(d, time.Duration(t.At-now))
	}
	m.slice(d)
}
