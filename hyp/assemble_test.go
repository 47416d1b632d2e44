// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"slices"
	"testing"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/mmu"
)

// qemuMachine assembles the machine of the QEMU board's DTB (management
// NIC at qemuMgmtNIC) over fakes: a GIC, the NIC's shared page, the UART, and
// the CPU and timer of fake.
func qemuMachine(t *testing.T, fake *fakeMachine) (*assembly, *mmio.Fake) {
	t.Helper()
	b, _ := qemuBoard(t, "virt-gicv3-1g.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: qemuMgmtNIC, TickINTID: qemuTick, MaintINTID: qemuMaint})
	if err != nil {
		t.Fatal(err)
	}
	page := mmio.NewFake(mmu.PageSize)
	hw := fake.stateHW()
	a, err := assemble(d, parts{
		arena:   make([]byte, (stage2Pages+2)*mmu.PageSize),
		arenaPA: 0x1000_0000_1000, // page- but not 8 KiB-aligned: the root table needs the skip
		dist:    fake.gic.Dist(),
		redist:  fake.gic.Redist(),
		forward: func(base, size uint64) mmio.Device { return page },
		hw:      hw,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a, page
}

// The machine built from the QEMU board's description, on the host: its
// stage 2, its bus in front of the guard, Ferry's tick kept from the
// guest, and its state moving to another such machine.
func TestAssembleQEMU(t *testing.T) {
	src := sample(t)
	src.gic = gic.NewFake(64) // assemble programs the GIC itself
	a, nic := qemuMachine(t, src)

	if a.stage2.Root()%(2*mmu.PageSize) != 0 {
		t.Errorf("stage-2 root %#x not aligned to its two pages", a.stage2.Root())
	}
	for ipa, mapped := range map[uint64]bool{qemuGuestBase: true, 0x9000000: true, 0x8000000: false, 0xa003000: false, qemuGuestBase - mmu.PageSize: false} {
		if _, _, _, _, ok := a.stage2.Lookup(ipa); ok != mapped {
			t.Errorf("stage 2 at %#x mapped %v, want %v", ipa, ok, mapped)
		}
	}

	// Ferry's tick is set up, and the guest cannot take it back through
	// the trapped pages: disabling PPI 26, or Group 1, changes nothing.
	d, r := src.gic.Dist(), src.gic.Redist()
	tick := uint32(1) << qemuTick
	if r.Read32(gic.GICR_ISENABLER0)&tick == 0 || r.Read32(gic.GICR_IGROUPR0)&tick == 0 || d.Read32(gic.GICD_CTLR)&gic.CTLR_EnableGrp1 == 0 {
		t.Fatalf("tick not set up: ISENABLER0 %#x IGROUPR0 %#x GICD_CTLR %#x", r.Read32(gic.GICR_ISENABLER0), r.Read32(gic.GICR_IGROUPR0), d.Read32(gic.GICD_CTLR))
	}
	access := func(ipa uint64, v uint64) {
		t.Helper()
		dev, off, ok := a.bus.Lookup(ipa)
		if !ok {
			t.Fatalf("%#x is not on the bus", ipa)
		}
		dev.Write(off, 4, v)
	}
	access(0x80a0000+gic.GICR_ICENABLER0, uint64(tick)) // through SGI_base
	access(0x8000000+gic.GICD_CTLR, gic.CTLR_ARE)       // through GICD page 0
	if r.Read32(gic.GICR_ISENABLER0)&tick == 0 || d.Read32(gic.GICD_CTLR)&gic.CTLR_EnableGrp1 == 0 {
		t.Errorf("the guest turned Ferry's tick off through the bus")
	}
	if dev, off, _ := a.bus.Lookup(0x8000000 + gic.GICD_CTLR); dev.Read(off, 4)&gic.CTLR_EnableGrp1 != 0 {
		t.Errorf("the guest reads its Group 1 enable on after turning it off")
	}
	access(0xa003000+0xc70, 0xf) // another transport on the NIC's page
	access(0xa003000+0xe70, 0xf) // Ferry's NIC
	if w := nic.Writes(); len(w) != 1 || w[0].Off != 0xc70 {
		t.Errorf("writes through the NIC's page: %v", w)
	}

	// Its state restores into another machine assembled the same way.
	states := captureAll(t, a.reg)
	dst := newFakeMachine(t)
	b, _ := qemuMachine(t, dst)
	if err := b.reg.Restore(states, nil); err != nil {
		t.Fatal(err)
	}
	again := captureAll(t, b.reg)
	for i := range states {
		if !bytes.Equal(again[i].Data, states[i].Data) {
			t.Errorf("%s differs after the move", states[i].Name)
		}
	}
	if !bytes.Equal(dst.cpu.Encode(), src.cpu.Encode()) {
		t.Error("CPU state differs after the move")
	}
	// The versions the fingerprint carries are the registry's.
	if vs := a.reg.Versions(); len(vs) != 5 || vs[0] != (migrate.StateVersion{Name: stateCPU, Version: cpu.StateVersion, Oldest: cpu.StateOldest}) {
		t.Errorf("versions %+v", vs)
	}
}

// guestNICMachine assembles the QEMU board with the guest's NIC at
// 0xa003c00 over fakes, its transport's registers in dev.
func guestNICMachine(t *testing.T, fake *fakeMachine, dev *mmio.Fake) *assembly {
	t.Helper()
	return guestNICMachineWith(t, fake, dev, nil)
}

// guestNICMachineWith is guestNICMachine with the hardware adjusted by
// adjust (if not nil) before the machine is assembled.
func guestNICMachineWith(t *testing.T, fake *fakeMachine, dev *mmio.Fake, adjust func(*stateHW)) *assembly {
	t.Helper()
	b, _ := qemuBoard(t, "virt-gicv3-1g-2nic.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: qemuMgmtNIC, GuestNICs: []string{"/virtio_mmio@a003c00"}, TickINTID: qemuTick, MaintINTID: qemuMaint})
	if err != nil {
		t.Fatal(err)
	}
	ram := &virtq.Region{Base: qemuGuestBase, B: make([]byte, 1<<16)}
	next := uint64(0x4100_0000) // Ferry's memory
	hw := fake.stateHW()
	hw.dma = virtiommio.Shadowing{
		Guest: ram,
		InRAM: func(a, n uint64) bool { return a >= ram.Base && a+n >= a && a+n <= ram.Base+uint64(len(ram.B)) },
		Alloc: func(n uint64) (virtq.Mem, uint64, error) {
			m := &virtq.Region{Base: next, B: make([]byte, n)}
			next += (n + mmu.PageSize - 1) &^ (mmu.PageSize - 1)
			return m, m.Base, nil
		},
	}
	dev.Write(virtiommio.RegQueueNumMax, 4, 256)
	if adjust != nil {
		adjust(&hw)
	}
	a, err := assemble(d, parts{
		arena: make([]byte, (stage2Pages+2)*mmu.PageSize), arenaPA: 0x1000_0000_0000,
		dist: fake.gic.Dist(), redist: fake.gic.Redist(),
		forward: func(base, size uint64) mmio.Device {
			if base == 0xa003c00 {
				return dev
			}
			return mmio.NewFake(int(size))
		},
		hw: hw,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// The guest's NIC is a migratable component of the machine: its model
// gives the device a shadow ring, not the guest's; the state is captured
// at the pause (the device reset), and another machine's device is set
// up from it, with the guest's interrupt made pending there.
func TestAssembleGuestNIC(t *testing.T) {
	src, srcDev := sample(t), mmio.NewFake(virtiommio.Size)
	src.gic = gic.NewFake(64)
	a := guestNICMachine(t, src, srcDev)
	const name = "virtio-mmio@a003c00"
	i := slices.IndexFunc(a.reg, func(c Component) bool { return c.Name == name })
	if i < 0 || !a.reg[i].AtPause || len(a.guestNICs) != 1 || a.guestNICs[0].Base != 0xa003c00 {
		t.Fatalf("registry %v, NICs %v", a.reg.Versions(), a.guestNICs)
	}
	dev, off, ok := a.bus.Lookup(0xa003c00)
	if !ok || off != 0xc00 {
		t.Fatalf("the guest NIC is not on the bus")
	}
	driveGuestNIC(dev, off)
	if got := srcDev.Read(virtiommio.RegQueueDescLow, 4); got < 0x4100_0000 || got >= 0x4200_0000 {
		t.Fatalf("the device's descriptor table is at %#x, not in Ferry's memory", got)
	}

	states := captureAll(t, a.reg)
	if srcDev.Read(virtiommio.RegStatus, 4) != 0 {
		t.Errorf("the source's device was not reset at the pause")
	}
	dst, dstDev := newFakeMachine(t), mmio.NewFake(virtiommio.Size)
	dst.gic = gic.NewFake(64)
	b := guestNICMachine(t, dst, dstDev)
	if err := b.reg.Restore(states, nil); err != nil {
		t.Fatal(err)
	}
	if dstDev.Read(virtiommio.RegStatus, 4)&virtiommio.StatusDriverOK == 0 || dstDev.Read(virtiommio.RegQueueReady, 4) != 1 {
		t.Errorf("the destination's device is not set up")
	}
	// QEMU's virt gives the transport at 0xa003c00 SPI 46: INTID 78.
	if dst.gic.Dist().Read32(gic.GICD_ISPENDRn+4*(78/32))&(1<<(78%32)) == 0 {
		t.Errorf("the guest NIC's interrupt is not pending on the destination")
	}
}

// driveGuestNIC sets the guest NIC at off of dev up as a driver does:
// features (VERSION_1), queue 0 of 8 entries in guest RAM, DRIVER_OK.
func driveGuestNIC(dev mmio.Device, off uint64) {
	w := func(reg uint64, v uint64) { dev.Write(off+reg, 4, v) }
	w(virtiommio.RegStatus, virtiommio.StatusAcknowledge|virtiommio.StatusDriver)
	w(virtiommio.RegDriverFeaturesSel, 1)
	w(virtiommio.RegDriverFeatures, 1)
	w(virtiommio.RegStatus, virtiommio.StatusAcknowledge|virtiommio.StatusDriver|virtiommio.StatusFeaturesOK)
	w(virtiommio.RegQueueSel, 0)
	w(virtiommio.RegQueueNum, 8)
	w(virtiommio.RegQueueDescLow, qemuGuestBase+0x1000)
	w(virtiommio.RegQueueDriverLow, qemuGuestBase+0x2000)
	w(virtiommio.RegQueueDeviceLow, qemuGuestBase+0x3000)
	w(virtiommio.RegQueueReady, 1)
	w(virtiommio.RegStatus, virtiommio.StatusAcknowledge|virtiommio.StatusDriver|virtiommio.StatusFeaturesOK|virtiommio.StatusDriverOK)
}
