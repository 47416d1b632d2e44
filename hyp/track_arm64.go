// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/mmu"
)

// Ferry's and the guest's slices of the CPU while a migration runs. The
// guest runs for guestSlice (less auto-converge's throttle), then Ferry's
// goroutines for ferrySlice: the EL2 timer takes the CPU back from the
// guest, the vCPU goroutine rests, and the migration yields when its slice
// is over (Yield). The guest's own interrupts and timers are untouched. A
// NIC interrupt during the guest's slice only wakes the NIC's goroutine,
// which runs in Ferry's next slice.
const (
	ferrySlice    = 5 * time.Millisecond
	guestSlice    = 10 * time.Millisecond
	minGuestSlice = 100 * time.Microsecond
)

// tracking is dirty tracking and CPU sharing during a migration.
type tracking struct {
	on      bool
	log     *dirty.Bitmap // pages written since the last harvest
	faults  uint64
	faultNS int64 // time the fault handler took, all faults it handled

	guest    time.Duration // the guest's slice, after the throttle
	start    int64         // Nanotime at Track
	ferry    int64         // ns Ferry's slices took since Track
	sliceEnd int64         // Nanotime at which Ferry's current slice ends
}

// writeFault is the dirty-fault path: mark, make writable, invalidate,
// back to the guest. It runs on the vCPU goroutine.
func (m *Machine) writeFault(ipa, va uint64, vaValid bool) bool {
	t := &m.trk
	if !t.on || !m.inRAM(ipa&^(mmu.PageSize-1)) {
		return false
	}
	start := cpu.Nanotime()
	was, err := m.Stage2.SetPageWritable(ipa, true)
	if err != nil {
		return false
	}
	if vaValid && !was {
		cpu.InvalidateGuestWrite(ipa, va)
	} else {
		// A walk's descriptor update, or a stale entry of another VA of a
		// page already writable: everything.
		cpu.InvalidateGuestPage(ipa)
	}
	if t.log.Set((ipa - m.Desc.RAM[0].Base) / mmu.PageSize) {
		t.faults++
	}
	t.faultNS += cpu.Nanotime() - start
	return true
}

// track starts dirty tracking: RAM split into read-only pages, the CPU
// shared in slices from the guest's next entry on.
func (m *Machine) track() error {
	if m.trk.on {
		return fmt.Errorf("dirty tracking is already on")
	}
	for _, r := range m.Desc.RAM {
		if _, _, err := m.Stage2.TrackWrites(r.Base, r.Size); err != nil {
			m.merge()
			return fmt.Errorf("write-protecting guest RAM %#x+%#x: %w", r.Base, r.Size, err)
		}
	}
	cpu.FlushStage2()
	cpu.WriteHCR_EL2(cpu.ReadHCR_EL2() | cpu.HCR_TWI)
	m.trk = tracking{on: true, log: dirty.New(m.pages()), guest: guestSlice, start: cpu.Nanotime(), sliceEnd: cpu.Nanotime() + int64(ferrySlice)}
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
	cpu.FlushStage2()
	return h, err
}

// untrack ends tracking: blocks again, the guest's full slices back.
func (m *Machine) untrack() {
	merged, blocks := m.merge()
	cpu.WriteHCR_EL2(cpu.ReadHCR_EL2() &^ cpu.HCR_TWI)
	m.trk.on = false
	if m.VCPU.Log != nil {
		m.VCPU.Log(fmt.Sprintf("dirty tracking off: guest RAM back on 2 MiB blocks (%d of %d merged), %d dirty faults taken", merged, blocks, m.trk.faults))
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
	cpu.FlushStage2()
	return merged, blocks
}

// throttle cuts the guest's slice by t (auto-converge).
func (m *Machine) throttle(t float64) {
	m.trk.guest = max(time.Duration(float64(guestSlice)*(1-t)), minGuestSlice)
}

// cpuTimes is the guest's and Ferry's time since track.
func (m *Machine) cpuTimes() (guest, ferry time.Duration) {
	if m.trk.start == 0 {
		return 0, 0
	}
	wall := cpu.Nanotime() - m.trk.start
	return time.Duration(wall - m.trk.ferry), time.Duration(m.trk.ferry)
}

// Yield gives the CPU back to the guest when Ferry's slice is over; a
// migration calls it between two pieces of work, and so does every
// goroutine of Ferry's that loops while work keeps coming (the NIC
// poller). While tracking, that is the end of Ferry's slice; otherwise,
// while the guest waits for Ferry's goroutines to be idle, the end of
// Ferry's share (share.go): the vCPU goroutine then runs next and enters
// the guest for its slice. With the guest stopped, or none, it does
// nothing.
func (m *Machine) Yield() {
	switch {
	case m.trk.on:
		if cpu.Nanotime() >= m.trk.sliceEnd {
			runtime.Gosched()
		}
	case m.idleWait && m.share.Due(cpu.Nanotime()):
		m.idleWait, m.busy, m.deadline = false, true, 0
		m.idle.Ring()
		runtime.Gosched()
	}
}

// slice is Ferry's slice of at most d during a migration: the vCPU
// goroutine rests (others run) until the slice is over or the guest is to
// stop, and the timer then gives the guest its own slice.
func (m *Machine) slice(d time.Duration) {
	start := cpu.Nanotime()
	m.trk.sliceEnd = start + int64(d)
	m.Ctl.Rest(d)
	m.trk.ferry += cpu.Nanotime() - start
	m.rearm = false
	m.armSlice()
}

// Generic timer control bits (ARM ARM D24.8, CNTV_CTL_EL0 / CNTP_CTL_EL0).
const (
	timerEnable = 1 << 0
	timerIMask  = 1 << 1
)

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
	if cpu.Group1Pending() || m.vif.GuestPending() {
		return
	}
	if !m.trk.on {
		m.share.Idled()
		return
	}
	now := cpu.ReadCNTPCT_EL0()
	d := ferrySlice
	for _, t := range [...]struct{ ctl, at uint64 }{
		{cpu.ReadCNTV_CTL_EL0(), cpu.ReadCNTV_CVAL_EL0() + cpu.ReadCNTVOFF_EL2()},
		{cpu.ReadCNTP_CTL_EL0(), cpu.ReadCNTP_CVAL_EL0()},
	} {
		if t.ctl&(timerEnable|timerIMask) != timerEnable {
			continue
		}
		if t.at <= now {
			return
		}
		d = min(d, time.Duration((t.at-now)*1e9/cpu.ReadCNTFRQ_EL0()))
	}
	m.slice(d)
}
