//go:build tamago && arm64

package hyp

import (
	"context"
	"fmt"
	"sort"
	"time"
	"unsafe"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/dirty"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio/pl011"
	"github.com/ferry-hv/ferry/mmu"
)

// pauseTimeout bounds how long stopping the guest may take: during a
// migration the vCPU goroutine rests while Ferry runs and stops at once;
// otherwise before the guest is entered again (the request came in while
// Ferry had the CPU).
const pauseTimeout = 5 * time.Second

// State record names.
const (
	stateCPU  = "cpu"
	stateGIC  = "gic"
	stateUART = "uart"
)

func page(ipa uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(ipa))), mmu.PageSize)
}

// Fingerprint is what a peer must match to take this machine: the CPU's
// identification and feature registers, guest RAM, and the guest's devices.
func (m *Machine) Fingerprint() migrate.Fingerprint {
	f := migrate.Fingerprint{
		MIDR:     cpu.ReadMIDR_EL1(),
		PageSize: mmu.PageSize,
		Features: map[string]uint64{
			"ID_AA64PFR0_EL1":  cpu.ReadID_AA64PFR0_EL1(),
			"ID_AA64PFR1_EL1":  cpu.ReadID_AA64PFR1_EL1(),
			"ID_AA64ISAR0_EL1": cpu.ReadID_AA64ISAR0_EL1(),
			"ID_AA64ISAR1_EL1": cpu.ReadID_AA64ISAR1_EL1(),
			"ID_AA64ISAR2_EL1": cpu.ReadID_AA64ISAR2_EL1(),
			"ID_AA64MMFR0_EL1": cpu.ReadID_AA64MMFR0_EL1(),
			"ID_AA64MMFR1_EL1": cpu.ReadID_AA64MMFR1_EL1(),
			"ID_AA64MMFR2_EL1": cpu.ReadID_AA64MMFR2_EL1(),
			"ID_AA64DFR0_EL1":  cpu.ReadID_AA64DFR0_EL1(),
		},
	}
	for _, r := range m.Layout.RAM {
		f.RAM = append(f.RAM, migrate.Range{Base: r.Base, Size: r.Size})
	}
	for _, s := range m.Layout.Stage2 {
		if s.Device {
			f.Devices = append(f.Devices, fmt.Sprintf("mmio@%#x+%#x", s.Base, s.Size))
		}
	}
	sort.Strings(f.Devices)
	return f
}

// Source is the machine as the sending side of a migration sees it.
func (m *Machine) Source() migrate.Source { return source{m} }

// Sink is the machine as the receiving side of a migration sees it.
func (m *Machine) Sink() migrate.Sink { return sink{m} }

type source struct{ m *Machine }

func (s source) Fingerprint() migrate.Fingerprint { return s.m.Fingerprint() }

// Pause stops the guest and captures its CPU and timer state at once: the
// guest's clock stops here, not when the pages have been sent. The GIC and
// UART are read by States, after the last pages (slow MMIO; what becomes
// pending meanwhile, the guest stopped, then moves too).
func (s source) Pause() error {
	ctx, cancel := context.WithTimeout(context.Background(), pauseTimeout)
	defer cancel()
	if err := s.m.Ctl.Pause(ctx); err != nil {
		return err
	}
	c := cpu.Capture(&s.m.VCPU.Ctx)
	s.m.captured = []migrate.State{{Name: stateCPU, Version: cpu.StateVersion, Data: c.Encode()}}
	return nil
}

func (s source) Resume() {
	s.m.captured = nil
	s.m.Ctl.Resume()
}

func (s source) Track() error                      { return s.m.track() }
func (s source) Harvest() (*dirty.Bitmap, error)   { return s.m.harvest() }
func (s source) Untrack()                          { s.m.untrack() }
func (s source) Throttle(t float64)                { s.m.throttle(t) }
func (s source) CPU() (guest, ferry time.Duration) { return s.m.cpuTimes() }
func (s source) Faults() (uint64, time.Duration) {
	return s.m.trk.faults, time.Duration(s.m.trk.faultNS)
}

// States returns the CPU state Pause captured, the GIC's and the UART's.
func (s source) States() ([]migrate.State, error) {
	if s.m.captured == nil {
		return nil, fmt.Errorf("no captured state: the guest was not paused")
	}
	g, err := s.m.GIC.Capture(gic.SysRegs{})
	if err != nil {
		return nil, err
	}
	return append(s.m.captured[:1:1],
		migrate.State{Name: stateGIC, Version: gic.Version, Data: g.Encode()},
		migrate.State{Name: stateUART, Version: pl011.Version, Data: s.m.UART.State().Encode()},
	), nil
}

func (s source) GiveUp() { s.m.Ctl.GiveUp() }

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
	i := (ipa - s.m.Layout.RAM[0].Base) / mmu.PageSize
	p := page(ipa)
	switch {
	case data != nil:
		copy(p, data)
		s.m.written.Set(i)
	case s.m.written.Test(i):
		clear(p)
	default:
		return nil
	}
	cpu.CleanDcache(ipa, mmu.PageSize)
	return nil
}

// PageView is the incoming guest's page at ipa, as RAM holds it.
func (s sink) PageView(ipa uint64) []byte {
	if !s.m.inRAM(ipa) {
		return nil
	}
	return page(ipa)
}

func (s sink) Restore(states []migrate.State) error {
	by := map[string]migrate.State{}
	for _, st := range states {
		by[st.Name] = st
	}
	for _, name := range []string{stateCPU, stateGIC, stateUART} {
		if _, ok := by[name]; !ok {
			return fmt.Errorf("restore: no %q state in the stream", name)
		}
	}
	c, err := cpu.DecodeState(by[stateCPU].Data)
	if err != nil {
		return err
	}
	g, err := gic.Decode(by[stateGIC].Data)
	if err != nil {
		return err
	}
	u, err := pl011.Decode(by[stateUART].Data)
	if err != nil {
		return err
	}
	if err := cpu.Restore(c, &s.m.VCPU.Ctx); err != nil {
		return err
	}
	if err := s.m.GIC.Restore(g, gic.SysRegs{}); err != nil {
		return err
	}
	if err := s.m.UART.Restore(u); err != nil && s.m.VCPU.Log != nil {
		s.m.VCPU.Log("restore: " + err.Error())
	}
	cpu.InvalidateIcache()
	cpu.FlushStage2()
	return nil
}

func (s sink) Resume() error {
	s.m.Ctl.Start()
	return nil
}

// Discard forgets a partial or refused incoming guest. Restore may have
// applied its state to the hardware already: its timers and the CPU
// interface's Group 1 enable are turned off again, as for a guest given
// away, so that nothing of it wakes Ferry's idle; the GIC's other state
// stays until the next guest's Restore overwrites it, inert without
// Group 1. The pages it wrote are marked written, so a later guest's zero
// pages clear them.
func (s sink) Discard() { quiesce() }

// ClearRAM zeroes guest RAM and cleans it to the point of coherency, on a
// board that waits for its first guest: the firmware may have left data in
// DRAM, and an incoming migration writes only the pages that are not zero
// (WritePage skips zero pages where no guest wrote). It returns how long
// it took.
func (m *Machine) ClearRAM() time.Duration {
	start := time.Now()
	for _, r := range m.Layout.RAM {
		clear(unsafe.Slice((*byte)(unsafe.Pointer(uintptr(r.Base))), r.Size))
		cpu.CleanDcache(r.Base, r.Size)
	}
	return time.Since(start)
}

func (m *Machine) inRAM(ipa uint64) bool {
	for _, r := range m.Layout.RAM {
		if ipa >= r.Base && ipa+mmu.PageSize <= r.Base+r.Size {
			return true
		}
	}
	return false
}

// PageView shows a guest page in place (migrate.PageViewer).
func (s source) PageView(ipa uint64) []byte { return page(ipa) }
