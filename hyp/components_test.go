// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/imxuart"
	"github.com/ferry-hv/ferry/mmio/pl011"
)

var update = flag.Bool("update", false, "write testdata/states/<name>-v<current version>.bin from the sample machines")

// fakeMachine is hardware with fakes: what was captured from it and what
// was loaded into it.
type fakeMachine struct {
	cpu   *cpu.State
	timer cpu.Timer
	// Another vCPU's timer as loaded, and the virtual offset it was given.
	timerAt cpu.Timer
	voff    uint64
	gic     *gic.Fake
	guard   *gic.Guard
	vfake   *vcpuif.Fake // the virtual CPU interface's registers
	vif     *vcpuif.VIF
	uart    *mmio.Fake
	loads   []string
}

func newFakeMachine(t *testing.T) *fakeMachine {
	t.Helper()
	f := &fakeMachine{gic: gic.NewFake(64), uart: mmio.NewFake(0x1000)}
	g, err := gic.NewGuard(f.gic.Dist(), f.gic.Redist(), gic.Owned{PPIs: []uint32{qemuTick}})
	if err != nil {
		t.Fatal(err)
	}
	f.guard = g
	f.vfake = vcpuif.NewFake(4)
	f.vif = vcpuif.New(f.vfake)
	f.vif.Enable()
	return f
}

func (f *fakeMachine) stateHW() stateHW {
	return stateHW{
		captureCPU:   func() *cpu.State { return f.cpu },
		restoreCPU:   func(s *cpu.State) error { f.cpu = s; f.loads = append(f.loads, stateCPU); return nil },
		captureTimer: func() cpu.Timer { return f.timer },
		restoreTimer: func(t cpu.Timer) { f.timer = t; f.loads = append(f.loads, stateTimer) },
		// Another vCPU's CPU: its register block, and the sample's
		// system registers.
		captureVCPU: func(c *cpu.Context) *cpu.State {
			return &cpu.State{MIDR: 0x410fd083, MPIDR: 0x80000001, Ctx: *c, SysRegs: make([]uint64, len(cpu.SysRegNames))}
		},
		restoreVCPU:    func(s *cpu.State, c *cpu.Context) error { *c = s.Ctx; return nil },
		restoreTimerAt: func(t cpu.Timer, voff uint64) { f.timerAt, f.voff = t, voff },
		timerOffset:    func() uint64 { return f.timer.VirtCount + 1 }, // any function of the timer loaded
		gic:            f.guard,
		vif:            f.vif,
		uart:           f.uart,
	}
}

// sampleVirtCount is the sample's virtual count.
const sampleVirtCount uint64 = 1 << 40

// sample is a machine in a known, non-trivial state.
func sample(t *testing.T) *fakeMachine {
	f := newFakeMachine(t)
	s := &cpu.State{MIDR: 0x410fd083, MPIDR: 0x80000000}
	for i := range s.Ctx.X {
		s.Ctx.X[i] = uint64(i) * 0x0101_0101
	}
	s.Ctx.PC, s.Ctx.PSTATE = 0xffff_8000_0801_0000, 0x3c5
	for i := range s.Ctx.V {
		s.Ctx.V[i] = uint64(i) << 32
	}
	for i := range cpu.SysRegNames {
		s.SysRegs = append(s.SysRegs, 0x1000+uint64(i))
	}
	// A guest debugging itself: 6 breakpoints and 4 watchpoints set
	// (QEMU's -cpu max has that many), the OS lock unlocked.
	for n := range 6 {
		s.Debug.BVR = append(s.Debug.BVR, 0xffff_8000_0810_0000+uint64(n)*0x40)
		s.Debug.BCR = append(s.Debug.BCR, 0x1e7)
	}
	for n := range 4 {
		s.Debug.WVR = append(s.Debug.WVR, 0xffff_0000_4a00_0000+uint64(n)*8)
		s.Debug.WCR = append(s.Debug.WCR, 0x1ff7)
	}
	f.cpu = s
	f.timer = cpu.Timer{VirtCount: sampleVirtCount, CNTV_CTL: 1, CNTV_CVAL: 1<<40 + 62500, CNTP_Delta: 7}
	d, r := f.gic.Dist(), f.gic.Redist()
	d.Write32(gic.GICD_CTLR, gic.CTLR_EnableGrp1|gic.CTLR_ARE|gic.CTLR_DS)
	d.Write32(gic.GICD_IGROUPRn+4, 0xffff_ffff)
	d.Write32(gic.GICD_ISENABLERn+4, 0x0000_0202) // SPIs 33 and 41: the UART's and a virtio transport's
	r.Write32(gic.GICR_IGROUPR0, 0xffff_ffff)
	r.Write32(gic.GICR_ISENABLER0, 1<<27) // the guest's virtual timer
	// The guest handles a virtual SGI and has another pending (HW entries:
	// TestVIFNeedsPhysicalActive).
	f.vfake.Vmcr = vcpuif.VMCR_VENG1 | 0xf0<<vcpuif.VMCR_VPMRShift
	f.vif.Inject(vcpuif.IRQ{INTID: 1, Priority: 0xa0})
	f.vfake.GuestAck()
	f.vif.Inject(vcpuif.IRQ{INTID: 2, Priority: 0xa0})
	for off, v := range map[uint64]uint64{pl011.UARTIBRD: 13, pl011.UARTFBRD: 1, pl011.UARTLCR_H: 0x70, pl011.UARTCR: 0x301, pl011.UARTIMSC: 0x50} {
		f.uart.Write(off, 4, v)
	}
	return f
}

func captureAll(t *testing.T, r Registry) []migrate.State {
	t.Helper()
	var tm Timings
	early, err := r.Capture(true, &tm)
	if err != nil {
		t.Fatal(err)
	}
	late, err := r.Capture(false, &tm)
	if err != nil {
		t.Fatal(err)
	}
	all := append(early, late...)
	if len(tm.parts) != len(all) {
		t.Fatalf("%d captures timed (%s), %d states", len(tm.parts), tm.String(), len(all))
	}
	for i, p := range tm.parts {
		if p.name != all[i].Name || p.decode {
			t.Fatalf("capture %d timed as %q (%s), captured %q", i, p.name, tm.String(), all[i].Name)
		}
	}
	return all
}

// What one machine captures, another restores: the same state, read back.
func TestComponentsRoundTrip(t *testing.T) {
	src := sample(t)
	states := captureAll(t, components(src.stateHW()))
	var names []string
	for _, s := range states {
		names = append(names, s.Name)
	}
	if want := []string{stateCPU, stateTimer, stateGIC, stateVIF, stateUART}; !slices.Equal(names, want) {
		t.Fatalf("captured %v, want %v (CPU and timer at the pause, first)", names, want)
	}
	dst := newFakeMachine(t)
	var tm Timings
	if err := components(dst.stateHW()).Restore(states, &tm); err != nil {
		t.Fatal(err)
	}
	// Every component's decode, then every load, in restore order.
	if got, want := tm.String(), "decode cpu , decode timer , decode gic , decode gic-vif , decode uart , cpu , timer , gic , gic-vif , uart "; stripDurations(got) != want {
		t.Fatalf("restore timed as %q, want the parts %q", got, want)
	}
	if !bytes.Equal(dst.cpu.Encode(), src.cpu.Encode()) || dst.timer != src.timer {
		t.Errorf("CPU or timer differ after restore")
	}
	if !slices.Equal(dst.loads, []string{stateCPU, stateTimer}) {
		t.Errorf("loads %v", dst.loads)
	}
	again := captureAll(t, components(dst.stateHW()))
	for i := range states {
		if !bytes.Equal(again[i].Data, states[i].Data) {
			t.Errorf("%s: captured after restore differs from what was restored", states[i].Name)
		}
	}
}

// sampleIMX is the sample machine with an i.MX UART console.
func sampleIMX(t *testing.T) *fakeMachine {
	f := sample(t)
	f.uart = mmio.NewFake(0x1000)
	for off, v := range map[uint64]uint64{imxuart.UCR1: 0x201, imxuart.UCR2: 0x4027, imxuart.UFCR: 0xa81, imxuart.UBIR: 0xf, imxuart.UBMR: 0x15b} {
		f.uart.Write(off, 4, v)
	}
	return f
}

// withConsole is f's hardware with a console of kind c.
func withConsole(f *fakeMachine, c Console) stateHW {
	hw := f.stateHW()
	hw.console = c
	return hw
}

// A state the current code wrote, under testdata/states, is read by every
// later build back to the component's Oldest; a file of the current
// version must be exactly what the sample machine encodes now (a format
// change without a version change fails here). Both console kinds' sample
// machines are covered, so every component has its file.
func TestComponentsGolden(t *testing.T) {
	dir := filepath.Join("testdata", "states")
	files, _ := filepath.Glob(filepath.Join(dir, "*.bin"))
	name := regexp.MustCompile(`^([a-z0-9-]+)-v([0-9]+)\.bin$`)
	for _, m := range []struct {
		console Console
		sample  func(*testing.T) *fakeMachine
	}{{ConsolePL011, sample}, {ConsoleIMX, sampleIMX}} {
		t.Run(m.console.String(), func(t *testing.T) {
			reg := components(withConsole(m.sample(t), m.console))
			current := map[string][]byte{}
			for _, s := range captureAll(t, reg) {
				current[s.Name] = s.Data
			}
			if *update {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for _, c := range reg {
					if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%s-v%d.bin", c.Name, c.Version)), current[c.Name], 0o644); err != nil {
						t.Fatal(err)
					}
				}
				files, _ = filepath.Glob(filepath.Join(dir, "*.bin"))
			}
			seen := map[string]bool{}
			for _, file := range files {
				fm := name.FindStringSubmatch(filepath.Base(file))
				if fm == nil {
					t.Fatalf("%s: want <component>-v<version>.bin", file)
				}
				i := slices.IndexFunc(reg, func(c Component) bool { return c.Name == fm[1] })
				if i < 0 {
					continue // the other console kind's
				}
				v, _ := strconv.Atoi(fm[2])
				c := reg[i]
				data, err := os.ReadFile(file)
				if err != nil {
					t.Fatal(err)
				}
				if uint16(v) == c.Version {
					seen[c.Name] = true
					if !bytes.Equal(data, current[c.Name]) {
						t.Errorf("%s: the current code encodes the sample differently: bump %s's version (and keep reading this one) or run -update", file, c.Name)
					}
				}
				// The whole machine, this component at version v.
				var states []migrate.State
				for _, other := range reg {
					s := migrate.State{Name: other.Name, Version: other.Version, Data: current[other.Name]}
					if other.Name == c.Name {
						s.Version, s.Data = uint16(v), data
					}
					states = append(states, s)
				}
				dst := newFakeMachine(t)
				dst.uart.OnRead = func(off uint64, size int) (uint64, bool) { return imxuart.USR2_TXDC, off == imxuart.USR2 }
				err = components(withConsole(dst, m.console)).Restore(states, nil)
				switch {
				case uint16(v) < c.Oldest:
					if err == nil {
						t.Errorf("%s: older than %s's Oldest %d, accepted", file, c.Name, c.Oldest)
					}
				case err != nil:
					t.Errorf("%s: %v", file, err)
				}
			}
			for _, c := range reg {
				if !seen[c.Name] {
					t.Errorf("no golden state of %s at its current version %d: run go test ./hyp -run Golden -update", c.Name, c.Version)
				}
			}
		})
	}
}

// The guest's timer interrupt, acknowledged by Ferry and listed HW-linked,
// moves only with its physical active state: a stream whose distributor
// state does not have it active is refused with nothing loaded.
func TestVIFNeedsPhysicalActive(t *testing.T) {
	for _, active := range []bool{false, true} {
		src := sample(t)
		if active {
			src.gic.Redist().Write32(gic.GICR_ISACTIVER0, 1<<27)
		}
		src.vfake.Ack(27)
		if got := src.vif.Inject(vcpuif.IRQ{INTID: 27, Priority: 0xa0, HW: true}); got != vcpuif.Listed {
			t.Fatalf("timer: %v", got)
		}
		dst := newFakeMachine(t)
		err := components(dst.stateHW()).Restore(captureAll(t, components(src.stateHW())), nil)
		if active {
			if err != nil {
				t.Fatal(err)
			}
			if got := vcpuif.DecodeLR(dst.vfake.LRs[1]); !got.HW || got.VINTID != 27 || got.State != vcpuif.Pending {
				t.Errorf("destination LR1 %+v, want the timer's HW entry", got)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "gic-vif") || !strings.Contains(err.Error(), "INTID 27, which is not active") {
			t.Fatalf("err = %v", err)
		}
		if len(dst.loads) != 0 || len(dst.gic.Writes) != 0 || dst.vfake.Accesses != 3 { // VTR, and HCR read and written by Enable
			t.Errorf("something was loaded: %v, %d GIC writes, %d VIF accesses", dst.loads, len(dst.gic.Writes), dst.vfake.Accesses)
		}
	}
}

func TestRegistryRefuses(t *testing.T) {
	good := captureAll(t, components(sample(t).stateHW()))
	mod := func(f func([]migrate.State) []migrate.State) []migrate.State {
		return f(slices.Clone(good))
	}
	for name, tc := range map[string]struct {
		states []migrate.State
		want   string
	}{
		"newer":   {mod(func(s []migrate.State) []migrate.State { s[2].Version = gic.Version + 1; return s }), "gic state version 4; this Ferry reads 2 to 3"},
		"missing": {mod(func(s []migrate.State) []migrate.State { return s[:len(s)-1] }), `no "uart" state`},
		"twice":   {mod(func(s []migrate.State) []migrate.State { return append(s, s[0]) }), `"cpu" twice`},
		"unknown": {mod(func(s []migrate.State) []migrate.State {
			return append(s, migrate.State{Name: "virtio-net", Version: 1})
		}), `"virtio-net" belongs to no component`},
		"garbage":  {mod(func(s []migrate.State) []migrate.State { s[len(s)-1].Data = []byte{1}; return s }), "restore: uart:"},
		"bad VIF":  {mod(func(s []migrate.State) []migrate.State { s[3].Data = s[3].Data[:5]; return s }), "restore: gic-vif:"},
		"bad CPU":  {mod(func(s []migrate.State) []migrate.State { s[0].Data = s[0].Data[:10]; return s }), "restore: cpu:"},
		"timer v0": {mod(func(s []migrate.State) []migrate.State { s[1].Version = 0; return s }), "timer state version 0"},
	} {
		t.Run(name, func(t *testing.T) {
			dst := newFakeMachine(t)
			err := components(dst.stateHW()).Restore(tc.states, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if len(dst.loads) != 0 || len(dst.gic.Writes) != 0 || len(dst.uart.Writes()) != 0 {
				t.Errorf("something was loaded: %v, %d GIC writes, %d UART writes", dst.loads, len(dst.gic.Writes), len(dst.uart.Writes()))
			}
		})
	}
}

// An i.MX UART console is its own component: its configuration moves
// between two i.MX boards, and a PL011's state is not taken for it.
func TestComponentsIMXConsole(t *testing.T) {
	imx := func(f *fakeMachine) stateHW { return withConsole(f, ConsoleIMX) }
	src := sampleIMX(t)
	states := captureAll(t, components(imx(src)))
	if got := states[len(states)-1]; got.Name != stateIMX || got.Version != imxuart.Version {
		t.Fatalf("console state %q v%d, want %q v%d", got.Name, got.Version, stateIMX, imxuart.Version)
	}
	dst := newFakeMachine(t)
	dst.uart.OnRead = func(off uint64, size int) (uint64, bool) { return imxuart.USR2_TXDC, off == imxuart.USR2 }
	if err := components(imx(dst)).Restore(states, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := imxuart.Capture(dst.uart), imxuart.Capture(src.uart); *got != *want {
		t.Errorf("destination UART %+v, want %+v", *got, *want)
	}
	pl := captureAll(t, components(sample(t).stateHW()))
	if err := components(imx(newFakeMachine(t))).Restore(pl, nil); err == nil || !strings.Contains(err.Error(), `no "uart-imx" state`) {
		t.Errorf("a PL011 board's states restored on an i.MX one: %v", err)
	}
}

// stripDurations leaves the names of a Timings string.
func stripDurations(s string) string {
	var b strings.Builder
	for _, p := range strings.Split(s, ", ") {
		name := p[:strings.LastIndexByte(p, ' ')+1]
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		b.WriteString(name)
	}
	return b.String()
}
