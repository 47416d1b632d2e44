// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmio/eqos/fakeeqos"
	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// The i.MX8M Plus EVK as boot/imx8mp describes it: guest RAM from
// 0x48000000 (4 MiB of it here), the relay window at the carve-out's top.
const (
	evkGuestBase = 0x4800_0000
	evkRelayBase = evkGuestBase - 64<<10
	evkEQOS      = 0x30bf_0000
)

// evkRelayMachine is a Machine built by newMachine over fakes from the
// EVK's DTB with its relay window: the EQOS's DMA page is dev's, whose
// bus reaches guest RAM and the shadow rings.
type evkRelayMachine struct {
	*Machine
	hw   *fakeHW
	dev  *fakeeqos.Device
	bus  *fakeeqos.Bus
	eqos mmio.Device // the EQOS's DMA page on the guest's MMIO bus
}

func newEVKRelayMachine(t *testing.T, state GuestState) *evkRelayMachine {
	t.Helper()
	blob, err := os.ReadFile(filepath.Join("..", "boot", "imx8mp", "testdata", "imx8mp-evk.dtb"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := dtb.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	b.Memory = []phys.Range{{Base: 0x4000_0000, Size: evkGuestBase + testRAMSize - 0x4000_0000}}
	d, err := Describe(b, Options{GuestBase: evkGuestBase, TickINTID: 26, MaintINTID: 25, RelayDMA: phys.Range{Base: evkRelayBase, Size: 64 << 10}})
	if err != nil {
		t.Fatal(err)
	}
	fake := sample(t)
	fake.gic = newFakeMachine(t).gic // assemble programs the GIC itself
	vf := vcpuif.NewFake(4)
	h := &fakeHW{now: int64(time.Second), ramBase: evkGuestBase, ram: make([]byte, testRAMSize), vfake: vf}
	shadow := make([]byte, 64<<10)
	bus := &fakeeqos.Bus{Regions: []*fakeeqos.Region{{Name: "RAM", Base: evkGuestBase, B: h.ram}, {Name: "relay window", Base: evkRelayBase, B: shadow}}}
	dev := fakeeqos.New(bus)
	sh := fake.stateHW()
	sh.gic, sh.console = nil, d.Console
	m, err := newMachine(d, state, func(s string) { h.log = append(h.log, s) }, machineParts{
		parts: parts{
			arena: make([]byte, (d.Stage2Pages()+2)*mmu.PageSize), arenaPA: 0x1000_0000_0000,
			dist: fake.gic.Dist(), redist: fake.gic.Redist(),
			forward: func(base, size uint64) mmio.Device {
				if base == evkEQOS+eqos.Page {
					return dev
				}
				return mmio.NewFake(int(size))
			},
			hw: sh,
			relay: relayParts{Mem: func(r phys.Range) (eqos.Mem, error) {
				return &virtq.Region{Base: r.Base, B: shadow[r.Base-evkRelayBase:][:r.Size]}, nil
			}},
		},
		hw: h, vif: vf, idle: newTestBell(), mgmt: newTestBell(), midr: 0x410fd034, mpidr: 0x80000000,
		firmware: func(args [8]uint64) [4]uint64 { return [4]uint64{NotSupported} },
	})
	if err != nil {
		t.Fatal(err)
	}
	m.VCPU.IDs = cpu.GuestIDs(func(string) uint64 { return 0 })
	page, off, ok := m.Bus.Lookup(evkEQOS + eqos.Page)
	if !ok || off != 0 {
		t.Fatalf("the EQOS's DMA page is not on the bus")
	}
	return &evkRelayMachine{Machine: m, hw: h, dev: dev, bus: bus, eqos: page}
}

func (em *evkRelayMachine) w(reg uint64, v uint32) { em.eqos.Write(reg-eqos.Page, 4, uint64(v)) }
func (em *evkRelayMachine) r(reg uint64) uint32    { return uint32(em.eqos.Read(reg-eqos.Page, 4)) }

func (em *evkRelayMachine) desc(addr uint64, w ...uint32) {
	for i, v := range w {
		binary.LittleEndian.PutUint32(em.hw.RAM(addr+4*uint64(i), 4), v)
	}
}

// Rings as stmmac sets them up: four receive descriptors with buffers
// of 1536 bytes, an empty transmit ring, both started.
const (
	evkTxRing = evkGuestBase + 0x1000
	evkRxRing = evkGuestBase + 0x2000
	evkRxBufs = evkGuestBase + 0x10000
)

func (em *evkRelayMachine) open() {
	ch := func(reg uint64) uint64 { return eqos.ChanBase + reg }
	for i := range uint64(4) {
		em.desc(evkRxRing+16*i, uint32(evkRxBufs+0x1000*i), 0, 0, eqos.RDES3OWN|eqos.RDES3IOC|eqos.RDES3BUF1V)
	}
	em.w(ch(eqos.ChRxBase), evkRxRing)
	em.w(ch(eqos.ChRxTail), evkRxRing+4*16)
	em.w(ch(eqos.ChTxBase), evkTxRing)
	em.w(ch(eqos.ChTxTail), evkTxRing)
	em.w(ch(eqos.ChTxRingLen), 3)
	em.w(ch(eqos.ChRxRingLen), 3)
	em.w(ch(eqos.ChRxControl), 1536<<eqos.RxControlRBSZShift|eqos.RxControlSR)
	em.w(ch(eqos.ChTxControl), eqos.TxControlST)
}

// On the EVK the EQOS is a device of the machine behind its relay: the
// device runs on the relay window's shadows, a frame it receives during
// a migration marks exactly its buffer's and descriptor's pages dirty, a
// descriptor pointing into the carve-out is a fault in the board's
// status with nothing read there, and the pause stops the device (and a
// failed migration starts it again) as a component of the registry,
// whose state the destination takes by forgetting its own relay's rings.
func TestRelayedEQOSMachine(t *testing.T) {
	em := newEVKRelayMachine(t, GuestRunning)
	if len(em.GuestEQOS) != 1 || em.GuestEQOS[0].Base != evkEQOS {
		t.Fatalf("guest EQOSes %+v", em.GuestEQOS)
	}
	em.open()
	if got := em.dev.Reg(eqos.ChanBase - eqos.Page + eqos.ChRxBase); got != evkRelayBase+eqos.MaxRing*eqos.DescSize {
		t.Errorf("the device's receive list at %#x, want the relay window's shadow", got)
	}

	if err := em.track(); err != nil {
		t.Fatal(err)
	}
	if !em.dev.Receive(make([]byte, 100)) {
		t.Fatal("no frame received")
	}
	em.r(eqos.ChanBase + eqos.ChStatus) // the guest's interrupt handler
	dirty, err := em.harvest()
	if err != nil {
		t.Fatal(err)
	}
	var pages []uint64
	for i := range dirty.Len() {
		if dirty.Test(i) {
			pages = append(pages, evkGuestBase+i*mmu.PageSize)
		}
	}
	if want := []uint64{evkRxRing, evkRxBufs}; !slices.Equal(pages, want) {
		t.Errorf("pages marked dirty %#x, want %#x (the descriptor's and the buffer's)", pages, want)
	}
	em.untrack()

	// A transmit descriptor into Ferry's carve-out.
	em.desc(evkTxRing, 0x4000_0000, 0, 64, eqos.TDES3OWN|eqos.TDES3FD|eqos.TDES3LD|64)
	em.w(eqos.ChanBase+eqos.ChTxTail, evkTxRing+16)
	if len(em.dev.Sent[0]) != 0 {
		t.Error("a frame was sent from the carve-out")
	}
	if f := em.GuestNICFaults(); len(f) != 1 || !strings.HasPrefix(f[0], "0x30bf0000: transmit descriptor 0") {
		t.Errorf("faults %q", f)
	}
	for _, a := range em.bus.Log {
		if a.Addr < evkGuestBase && (a.Addr < evkRelayBase || a.Size != 16 && a.Size != 4) {
			t.Errorf("the device accessed [%#x+%#x]", a.Addr, a.Size)
		}
	}

	// The pause stops it; a failed migration starts it again.
	i := slices.IndexFunc(em.reg, func(c Component) bool { return c.Name == "eqos@30bf0000" })
	if i < 0 || !em.reg[i].AtPause {
		t.Fatalf("registry %v: no EQOS captured at the pause", em.reg.Versions())
	}
	states, err := em.reg.Capture(true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if em.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChRxControl)&eqos.RxControlSR != 0 {
		t.Error("the EQOS's receive DMA runs after the pause")
	}
	em.restartGuestNICs()
	if em.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChRxControl)&eqos.RxControlSR == 0 || !em.dev.Receive(make([]byte, 60)) {
		t.Error("the EQOS does not receive after a failed migration")
	}
	rest, err := em.reg.Capture(false, nil)
	if err != nil {
		t.Fatal(err)
	}

	dst := newEVKRelayMachine(t, GuestNone)
	dst.open() // a relay that knew rings: the incoming guest's are not these
	if err := dst.reg.Restore(append(states, rest...), nil); err != nil {
		t.Fatal(err)
	}
	if dst.dev.Reg(eqos.ChanBase-eqos.Page+eqos.ChRxControl)&eqos.RxControlSR != 0 {
		t.Error("the destination's EQOS runs on rings of its own after the restore")
	}
	if tx, rx := dst.GuestEQOS[0].Model.Holding(); tx != 0 || rx != 0 {
		t.Errorf("the destination's relay holds %d and %d descriptors after the restore", tx, rx)
	}
	if dst.Fingerprint().Devices == nil || !slices.Contains(dst.Fingerprint().Devices, "nxp,imx8mp-dwmac-eqos@0x30bf0000:trapped") {
		t.Errorf("the fingerprint's devices %q", dst.Fingerprint().Devices)
	}
	// A state that is not empty is refused.
	for k := range states {
		if states[k].Name == "eqos@30bf0000" {
			states[k].Data = []byte{1}
		}
	}
	if err := dst.reg.Restore(append(states, rest...), nil); err == nil || !strings.Contains(err.Error(), "eqos") {
		t.Errorf("a state of one byte: %v", err)
	}
}
