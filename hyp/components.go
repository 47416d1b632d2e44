// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/imxuart"
	"github.com/ferry-hv/ferry/mmio/pl011"
	"github.com/ferry-hv/ferry/mmio/virtiommio"
)

// Component is one migratable part of the machine: its state's name and
// versions, how it is captured and how it is restored. Every state a
// migration moves is one component's, and versions are checked in one
// place: Compatible, in Hello, against the destination's Versions
// (migrate.StateVersion states the rule), and again by Restore.
type Component struct {
	Name string
	// Version is what Capture writes; Decode reads Oldest to Version.
	Version, Oldest uint16
	// AtPause: captured the moment the guest stops (the CPU and its clock
	// stop there), not after the last pages like the rest (slow MMIO;
	// what changes meanwhile, the guest stopped, then moves too).
	AtPause bool
	Capture func() ([]byte, error)
	// Decode checks data of a version from Oldest to Version and returns
	// what loads it into the machine. It changes nothing itself.
	Decode func(version uint16, data []byte) (load func() error, err error)
}

// Registry is the machine's components, in restore order.
type Registry []Component

// Versions is what the fingerprint carries: each component's name and
// versions.
func (r Registry) Versions() []migrate.StateVersion {
	vs := make([]migrate.StateVersion, len(r))
	for i, c := range r {
		vs[i] = migrate.StateVersion{Name: c.Name, Version: c.Version, Oldest: c.Oldest}
	}
	return vs
}

// Capture captures the components captured at the pause (atPause) or the
// others, adding the time each took to t (nil: not timed).
func (r Registry) Capture(atPause bool, t *Timings) ([]migrate.State, error) {
	var out []migrate.State
	for _, c := range r {
		if c.AtPause != atPause {
			continue
		}
		start := time.Now()
		data, err := c.Capture()
		if err != nil {
			return nil, fmt.Errorf("capture %s: %w", c.Name, err)
		}
		t.add(c.Name, time.Since(start))
		out = append(out, migrate.State{Name: c.Name, Version: c.Version, Data: data})
	}
	return out, nil
}

// Timings are the parts of a switchover, in the order they ran: each
// component's capture on the source, its decode and load on the
// destination. Kept in a buffer sized once, so timing takes nothing from
// the switchover it measures; written down after it (String).
type Timings struct {
	parts []timing
}

type timing struct {
	name   string
	decode bool // the destination's decode, not the load
	d      time.Duration
}

// newTimings has room for the parts of a switchover of r's components:
// a capture, or a decode and a load, each, and the two maintenance steps.
func newTimings(r Registry) Timings { return Timings{parts: make([]timing, 0, 2*len(r)+2)} }

// Reset empties t, keeping its room.
func (t *Timings) Reset() { t.parts = t.parts[:0] }

func (t *Timings) add(name string, d time.Duration) { t.put(timing{name: name, d: d}) }

func (t *Timings) put(p timing) {
	if t != nil {
		t.parts = append(t.parts, p)
	}
}

// String is the parts as "name 1.234ms, ...".
func (t *Timings) String() string {
	var b strings.Builder
	for i, p := range t.parts {
		if i > 0 {
			b.WriteString(", ")
		}
		if p.decode {
			b.WriteString("decode ")
		}
		fmt.Fprintf(&b, "%s %v", p.name, p.d.Round(time.Microsecond))
	}
	return b.String()
}

// Restore checks that states hold exactly one state of every component at
// a version it reads, decodes them all, and only then loads them, in the
// registry's order. A state that is missing, unknown, repeated, of a
// version the component does not read, or that does not decode, is an
// error naming it, with nothing loaded.
// Each decode and load is timed into t (nil: not timed).
func (r Registry) Restore(states []migrate.State, t *Timings) error {
	by := map[string]migrate.State{}
	for _, st := range states {
		if _, dup := by[st.Name]; dup {
			return fmt.Errorf("restore: state %q twice in the stream", st.Name)
		}
		by[st.Name] = st
	}
	loads := make([]func() error, 0, len(r))
	for _, c := range r {
		st, ok := by[c.Name]
		if !ok {
			return fmt.Errorf("restore: no %q state in the stream", c.Name)
		}
		delete(by, c.Name)
		if st.Version < c.Oldest || st.Version > c.Version {
			return fmt.Errorf("restore: %s state version %d; this Ferry reads %d to %d", c.Name, st.Version, c.Oldest, c.Version)
		}
		start := time.Now()
		load, err := c.Decode(st.Version, st.Data)
		if err != nil {
			return fmt.Errorf("restore: %s: %w", c.Name, err)
		}
		t.put(timing{name: c.Name, decode: true, d: time.Since(start)})
		loads = append(loads, load)
	}
	for name := range by {
		return fmt.Errorf("restore: state %q belongs to no component of this machine", name)
	}
	for i, load := range loads {
		start := time.Now()
		if err := load(); err != nil {
			return fmt.Errorf("restore: %s: %w", r[i].Name, err)
		}
		t.add(r[i].Name, time.Since(start))
	}
	return nil
}

// Component names: the State records of a migration.
const (
	stateCPU   = "cpu"
	stateTimer = "timer"
	stateGIC   = "gic"
	stateVIF   = "gic-vif"  // the GIC's virtual CPU interface: list registers, queue, VMCR, APRs
	stateUART  = "uart"     // a PL011 console
	stateIMX   = "uart-imx" // an i.MX UART console: another state, never decoded as a PL011's
)

// stateHW is where the machine's components live: the vCPU's registers
// and timer (package cpu, at EL2), the GIC behind its guard, and the
// console UART's registers. Host tests give fakes.
type stateHW struct {
	captureCPU   func() *cpu.State
	restoreCPU   func(*cpu.State) error
	captureTimer func() cpu.Timer
	restoreTimer func(cpu.Timer)
	// The other vCPUs' (secondarymove.go), on their own CPUs: the CPU's
	// registers into or from that vCPU's register block, and its timer
	// loaded with the machine's virtual offset.
	captureVCPU    func(*cpu.Context) *cpu.State
	restoreVCPU    func(*cpu.State, *cpu.Context) error
	restoreTimerAt func(t cpu.Timer, voff uint64)
	// timerOffset reads the CPU's virtual offset (CNTVOFF_EL2) after
	// restoreTimer, which the other vCPUs take (nil: not read).
	timerOffset func() uint64
	vtimeOff    *atomic.Uint64
	// gicState is the distributor's state the stream carries, once
	// decoded: the virtual interfaces' HW entries are checked against it.
	gicState **gic.State
	gic      *gic.Guard
	// vif is the guest's CPU interface, the GIC's virtual one (package
	// gic/vcpuif).
	vif     *vcpuif.VIF
	uart    mmio.Device
	console Console // the kind of UART uart is
	// dma is how a model of the guest's NIC reaches guest RAM and Ferry's
	// memory for its shadow rings (Pend is set per NIC).
	dma virtiommio.Shadowing
	// quiesce turns the guest's timers off and empties its virtual CPU
	// interface (nil: nothing to do), for a guest that will not run here.
	quiesce func()
	log     func(string)
}

// components is the machine's registry.
func components(hw stateHW) Registry {
	if hw.gicState == nil {
		hw.gicState = new(*gic.State)
	}
	r := Registry{
		{
			Name: stateCPU, Version: cpu.StateVersion, Oldest: cpu.StateOldest, AtPause: true,
			Capture: func() ([]byte, error) { return hw.captureCPU().Encode(), nil },
			Decode: func(v uint16, b []byte) (func() error, error) {
				s, err := cpu.DecodeState(v, b)
				if err != nil {
					return nil, err
				}
				return func() error { return hw.restoreCPU(s) }, nil
			},
		},
		{
			Name: stateTimer, Version: cpu.TimerVersion, Oldest: cpu.TimerOldest, AtPause: true,
			Capture: func() ([]byte, error) { return hw.captureTimer().Encode(), nil },
			Decode: func(v uint16, b []byte) (func() error, error) {
				t, err := cpu.DecodeTimer(v, b)
				if err != nil {
					return nil, err
				}
				return func() error {
					hw.restoreTimer(t)
					if hw.timerOffset != nil && hw.vtimeOff != nil {
						hw.vtimeOff.Store(hw.timerOffset())
					}
					return nil
				}, nil
			},
		},
		{
			Name: stateGIC, Version: gic.Version, Oldest: gic.Oldest,
			Capture: func() ([]byte, error) {
				s, err := hw.gic.Capture()
				if err != nil {
					return nil, err
				}
				return s.Encode(), nil
			},
			Decode: func(v uint16, b []byte) (func() error, error) {
				s, err := gic.Decode(v, b)
				if err != nil {
					return nil, err
				}
				*hw.gicState = s
				return func() error { return hw.gic.Restore(s) }, nil
			},
		},
		vifComponent(hw.vif, hw.gicState),
	}
	return append(r, consoleComponent(hw))
}

// vifComponent carries the guest's virtual CPU interface, loaded after
// the distributor: a HW entry (listed or queued) is an interrupt Ferry
// acknowledged for the guest, so the distributor's state in the same
// stream must have it active -- checked when decoding (the registry
// decodes in its order, so *gicState is the stream's by then), with
// nothing loaded if not.
func vifComponent(vif *vcpuif.VIF, gicState **gic.State) Component {
	return Component{
		Name: stateVIF, Version: vcpuif.Version, Oldest: vcpuif.Oldest,
		Capture: func() ([]byte, error) { return vif.Capture().Encode(), nil },
		Decode: func(v uint16, b []byte) (func() error, error) {
			s, err := vcpuif.Decode(v, b)
			if err != nil {
				return nil, err
			}
			g := *gicState
			if g == nil {
				return nil, fmt.Errorf("no %q state before it", stateGIC)
			}
			if err := s.CheckPhysical(func(id uint32) bool { return gicActive(g, id) }); err != nil {
				return nil, err
			}
			return func() error { return vif.Restore(s) }, nil
		},
	}
}

// gicActive reports whether the guest's INTID id is active in s.
func gicActive(s *gic.State, id uint32) bool {
	if id < gic.NumPrivate {
		return s.Redist.Active&(1<<id) != 0
	}
	w := int(id-gic.FirstSPI) / 32
	return w < len(s.Dist.Active) && s.Dist.Active[w]&(1<<((id-gic.FirstSPI)%32)) != 0
}

// guestNICStopWait bounds how long a guest NIC's device may take, the guest
// paused, to carry out the requests it holds (frames handed to it, sent
// in well under a millisecond) before the pause gives up.
const guestNICStopWait = 200 * time.Millisecond

// guestNICStop is how the next pause stops the guest's NICs' devices.
type guestNICStop struct {
	// reset: a device that still holds requests after guestNICStopWait is
	// reset all the same, and they go back to the guest unused (the
	// operator's choice: ferryctl migrate -reset-nic).
	reset bool
}

// nicHint is what a pause that a guest NIC's requests held up tells the
// operator.
const nicHint = "the guest's NIC holds requests its device has not carried out (ferryctl migrate -reset-nic resets it at the pause and gives them back to the guest unused)"

// guestNICComponent carries a guest NIC's transport (package
// mmio/virtiommio): captured at the pause, where its device is stopped
// (as stop says) and what it wrote into guest RAM reported before the
// last dirty pages are taken; set up again from it on the destination,
// after the GIC (its interrupt is made pending there).
func guestNICComponent(base uint64, t *virtiommio.Transport, stop *guestNICStop) Component {
	return Component{
		Name: fmt.Sprintf("virtio-mmio@%x", base), Version: virtiommio.Version, Oldest: virtiommio.Oldest, AtPause: true,
		Capture: func() ([]byte, error) {
			s, err := t.Stop(guestNICStopWait, stop.reset)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", nicHint, err)
			}
			return s.Encode(), nil
		},
		Decode: func(v uint16, b []byte) (func() error, error) {
			s, err := virtiommio.Decode(v, b)
			if err != nil {
				return nil, err
			}
			return func() error { return t.Start(*s) }, nil
		},
	}
}

// replayer is a console UART's decoded state.
type replayer interface{ Replay(mmio.Device) error }

// consoleComponent carries the console UART's configuration, by its kind:
// a PL011's (package mmio/pl011) or an i.MX UART's (package mmio/imxuart).
func consoleComponent(hw stateHW) Component {
	c := Component{Name: stateUART, Version: pl011.Version, Oldest: pl011.Oldest}
	capture := func() []byte { return pl011.Capture(hw.uart).Encode() }
	decode := func(v uint16, b []byte) (replayer, error) { return pl011.Decode(v, b) }
	if hw.console == ConsoleIMX {
		c = Component{Name: stateIMX, Version: imxuart.Version, Oldest: imxuart.Oldest}
		capture = func() []byte { return imxuart.Capture(hw.uart).Encode() }
		decode = func(v uint16, b []byte) (replayer, error) { return imxuart.Decode(v, b) }
	}
	c.Capture = func() ([]byte, error) { return capture(), nil }
	c.Decode = func(v uint16, b []byte) (func() error, error) {
		s, err := decode(v, b)
		if err != nil {
			return nil, err
		}
		return func() error {
			// A UART still busy with a character is programmed anyway: a
			// console glitch, not a reason to lose the guest.
			if err := s.Replay(hw.uart); err != nil && hw.log != nil {
				hw.log("restore: " + err.Error())
			}
			return nil
		}, nil
	}
	return c
}
