// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/net/announce"
)

// pauseTimeout bounds how long stopping the guest may take: during a
// migration the vCPU goroutine rests while Ferry runs and stops at once;
// otherwise before the guest is entered again (the request came in while
// Ferry had the CPU).
const pauseTimeout = 5 * time.Second

// page is the guest's page at ipa, in place.
func (m *Machine) page(ipa uint64) []byte { return m.hw.RAM(ipa, mmu.PageSize) }

// Fingerprint is what a peer must match to take this machine: the CPU's
// identification and feature registers as the guest sees them, guest RAM, the devices the guest
// sees and how each is treated (its NICs with their MACs), the
// versions of the machine's states, and the guest's CPUs.
func (m *Machine) Fingerprint() migrate.Fingerprint {
	f := migrate.Fingerprint{
		MIDR:     m.midr,
		PageSize: mmu.PageSize,
		// The ID registers as the guest reads them (TID3): what it may
		// have seen and rely on, whatever else the CPUs differ in.
		Features: m.VCPU.IDs.Named(),
	}
	f.RAM = slices.Clone(m.Desc.RAM)
	f.Devices = m.Desc.Visible()
	// The guest's NIC's MAC is the device's, and the guest's driver
	// keeps it: another one on the destination would filter its frames
	// out.
	for _, n := range m.GuestNICs {
		f.Devices = append(f.Devices, fmt.Sprintf("virtio-net@%#x:mac=%v", n.Base, net.HardwareAddr(n.Transport.Config(0, 6))))
	}
	f.States = m.reg.Versions()
	// The guest's vCPUs' MPIDR_EL1s: vCPU 0's as it reads it, the others'
	// affinities with the same other bits.
	f.CPUs = []uint64{m.VCPU.MPIDR}
	for _, a := range m.Desc.VCPUs[min(1, len(m.Desc.VCPUs)):] {
		f.CPUs = append(f.CPUs, a|m.VCPU.MPIDR&^cpu.MPIDRAffinity)
	}
	return f
}

// Source is the machine as the sending side of a migration sees it;
// resetGuestNICs: the pause resets the guest's NICs' devices even if they still
// hold requests, which go back to the guest unused (guestNICStop).
func (m *Machine) Source(resetGuestNICs bool) migrate.Source { return source{m, resetGuestNICs} }

// Sink is the machine as the receiving side of a migration sees it.
func (m *Machine) Sink() migrate.Sink { return sink{m} }

type source struct {
	m              *Machine
	resetGuestNICs bool
}

func (s source) Fingerprint() migrate.Fingerprint { return s.m.Fingerprint() }

// Pause stops the guest and captures the components captured at the
// pause (its CPU and timer) at once: the guest's clock stops here, not
// when the pages have been sent. The others (GIC, UART) are read by
// States, after the last pages.
func (s source) Pause() error {
	// The other vCPUs first, each held out of the guest on its CPU, then
	// vCPU 0: none runs while any is captured, so no SGI between them is
	// lost (the ones queued are listed at the capture).
	if err := s.m.holdSecondaries(); err != nil {
		return fmt.Errorf("pausing the guest: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), pauseTimeout)
	defer cancel()
	if err := s.m.Ctl.Pause(ctx); err != nil {
		s.m.releaseSecondaries()
		return err
	}
	s.m.guestNICStop.reset = s.resetGuestNICs
	s.m.switchTimes.Reset()
	st, err := s.m.reg.Capture(true, &s.m.switchTimes)
	s.m.guestNICStop.reset = false
	if err != nil {
		s.m.restartGuestNICs()
		s.m.Ctl.Resume()
		s.m.releaseSecondaries()
		return err
	}
	s.m.captured = st
	c := &s.m.VCPU.Ctx
	s.m.paused, s.m.pausedMode, s.m.pausedPC = true, c.PSTATE, c.PC
	return nil
}

// Switchover says where the last switchover's time went on this board,
// for the log after it (nothing is logged inside it): on a source, where
// the guest was paused and each component's capture; on a destination,
// each component's decode and load and the cache and TLB maintenance.
func (m *Machine) Switchover() string {
	if m.paused {
		return fmt.Sprintf("guest paused in %s at PC %#x; captured %s", cpu.Mode(m.pausedMode), m.pausedPC, m.switchTimes.String())
	}
	return m.switchTimes.String()
}

// Resume lets the guest run on here after a failed migration, its NICs'
// devices (stopped at the pause) set up again.
func (s source) Resume() {
	s.m.captured = nil
	s.m.restartGuestNICs()
	s.m.Ctl.Resume()
	s.m.releaseSecondaries()
}

// restartGuestNICs sets up again the devices of the guest's NICs that a pause
// stopped. One that fails is reported; the guest runs on without it.
func (m *Machine) restartGuestNICs() {
	for _, n := range m.GuestNICs {
		if err := n.Transport.Restart(); err != nil && m.VCPU.Log != nil {
			m.VCPU.Log(fmt.Sprintf("guest NIC at %#x: setting its device up again: %v", n.Base, err))
		}
	}
	for _, n := range m.GuestEQOS {
		n.Model.Restart()
	}
}

func (s source) Track() error                      { return s.m.track() }
func (s source) Harvest() (*dirty.Bitmap, error)   { return s.m.harvest() }
func (s source) Untrack()                          { s.m.untrack() }
func (s source) Throttle(t float64)                { s.m.throttle(t) }
func (s source) CPU() (guest, ferry time.Duration) { return s.m.cpuTimes() }
func (s source) Faults() (uint64, time.Duration) {
	return s.m.trk.faults.Load(), time.Duration(s.m.trk.faultNS.Load())
}

// States returns the states Pause captured and the rest's.
func (s source) States() ([]migrate.State, error) {
	if s.m.captured == nil {
		return nil, fmt.Errorf("no captured state: the guest was not paused")
	}
	s.m.takeSGIs(0, s.m.vif, s.m.irq) // what the other vCPUs sent it before they stopped
	rest, err := s.m.reg.Capture(false, &s.m.switchTimes)
	if err != nil {
		return nil, err
	}
	return append(slices.Clip(s.m.captured), rest...), nil
}

// GiveUp parks the guest for good on this board, every vCPU off.
func (s source) GiveUp() {
	s.m.Ctl.GiveUp()
	s.m.dropSecondaries()
	s.m.releaseSecondaries()
}

type sink struct{ m *Machine }

func (s sink) Fingerprint() migrate.Fingerprint { return s.m.Fingerprint() }

// WritePage stores one page of the incoming guest and cleans it to the
// point of coherency (the guest may start with its caches off... and an
// instruction fetch must see it). A zero page is written only if an
// earlier, abandoned transfer or a guest that left left something there:
// RAM no guest has used is zero (ClearRAM made it so at boot).
func (s sink) WritePage(ipa uint64, data []byte) error {
	if !s.m.inRAM(ipa) {
		return fmt.Errorf("page %#x is outside guest RAM", ipa)
	}
	i := (ipa - s.m.Desc.RAM[0].Base) / mmu.PageSize
	p := s.m.page(ipa)
	switch {
	case data != nil:
		copy(p, data)
		s.m.written.Set(i)
	case s.m.written.Test(i):
		clear(p)
	default:
		return nil
	}
	s.m.hw.CleanDcache(ipa, mmu.PageSize)
	return nil
}

// PageView is the incoming guest's page at ipa, as RAM holds it.
func (s sink) PageView(ipa uint64) []byte {
	if !s.m.inRAM(ipa) {
		return nil
	}
	return s.m.page(ipa)
}

// Restore loads every component's state (Registry.Restore: all checked
// and decoded before any is loaded), then does the cache and TLB
// maintenance the written RAM needs.
func (s sink) Restore(states []migrate.State) error {
	s.m.paused = false
	s.m.switchTimes.Reset()
	if err := s.m.reg.Restore(states, &s.m.switchTimes); err != nil {
		return err
	}
	start := time.Now()
	s.m.hw.InvalidateIcache()
	s.m.switchTimes.add("icache", time.Since(start))
	start = time.Now()
	s.m.hw.FlushStage2()
	s.m.switchTimes.add("stage-2 TLB", time.Since(start))
	return nil
}

// Resume starts the guest, and announces each of its NICs' MAC address
// from here (package announce).
func (s sink) Resume() error {
	s.m.Ctl.Start()
	s.m.startSecondaries()
	for _, n := range s.m.GuestNICs {
		go s.m.announce(n)
	}
	return nil
}

// announce sends the guest's RARP announcements on n, in its rounds, and
// says how many went out.
func (m *Machine) announce(n GuestNIC) {
	mac := net.HardwareAddr(n.Transport.Config(0, 6))
	frame := announce.Frame(mac)
	sent := 0
	var last error
	for _, gap := range announce.Gaps {
		time.Sleep(gap)
		if err := n.Transport.Announce(txQueue, frame); err != nil {
			last = err
			continue
		}
		sent++
	}
	if m.VCPU.Log == nil {
		return
	}
	msg := fmt.Sprintf("guest NIC at %#x: announced %v from here: %d of %d RARP frames sent", n.Base, mac, sent, len(announce.Gaps))
	if last != nil {
		msg += fmt.Sprintf(" (%v)", last)
	}
	m.VCPU.Log(msg)
}

// txQueue is virtio-net's transmitq1 (virtio 1.2, 5.1.2).
const txQueue = 1

// Discard forgets a partial, refused or aborted incoming guest, whatever
// Restore had applied to the hardware already: its NICs' devices reset,
// its timers and Group 1 off, the GIC's guest part as before any guest
// (discarder). The board waits for a guest as before.
func (s sink) Discard() {
	s.m.discard.discard()
	s.m.dropSecondaries()
}

// ClearRAM zeroes guest RAM and cleans it to the point of coherency, on a
// board that waits for its first guest: the firmware may have left data in
// DRAM, and an incoming migration writes only the pages that are not zero
// (WritePage skips zero pages where no guest wrote). It returns how long
// it took.
func (m *Machine) ClearRAM() time.Duration {
	start := time.Now()
	for _, r := range m.Desc.RAM {
		clear(m.hw.RAM(r.Base, r.Size))
		m.hw.CleanDcache(r.Base, r.Size)
	}
	return time.Since(start)
}

func (m *Machine) inRAM(ipa uint64) bool {
	for _, r := range m.Desc.RAM {
		if ipa >= r.Base && ipa+mmu.PageSize <= r.Base+r.Size {
			return true
		}
	}
	return false
}

// PageView shows a guest page in place (migrate.PageViewer).
func (s source) PageView(ipa uint64) []byte { return s.m.page(ipa) }
