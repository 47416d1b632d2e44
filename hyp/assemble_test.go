package hyp

import (
	"bytes"
	"testing"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmu"
)

// qemuMachine assembles the machine of the QEMU board's DTB (management
// NIC at qemuNIC) over fakes: a GIC, the NIC's shared page, the UART, and
// the CPU and timer of fake.
func qemuMachine(t *testing.T, fake *fakeMachine) (*assembly, *mmio.Fake) {
	t.Helper()
	b, _ := qemuBoard(t, "virt-gicv3-1g.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, NIC: qemuNIC, TickINTID: qemuTick})
	if err != nil {
		t.Fatal(err)
	}
	page := mmio.NewFake(mmu.PageSize)
	hw := fake.hardware()
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
	// the trapped pages: disabling PPI 26, or Group 0, changes nothing.
	d, r := src.gic.Dist(), src.gic.Redist()
	tick := uint32(1) << qemuTick
	if r.Read32(gic.GICR_ISENABLER0)&tick == 0 || r.Read32(gic.GICR_IGROUPR0)&tick != 0 || d.Read32(gic.GICD_CTLR)&gic.CTLR_EnableGrp0 == 0 {
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
	access(0x80a0000+gic.GICR_ICENABLER0, uint64(tick))               // through SGI_base
	access(0x8000000+gic.GICD_CTLR, gic.CTLR_EnableGrp1|gic.CTLR_ARE) // through GICD page 0
	if r.Read32(gic.GICR_ISENABLER0)&tick == 0 || d.Read32(gic.GICD_CTLR)&gic.CTLR_EnableGrp0 == 0 {
		t.Errorf("the guest turned Ferry's tick off through the bus")
	}
	if d.Read32(gic.GICD_CTLR)&gic.CTLR_EnableGrp1 == 0 {
		t.Errorf("the guest's own Group 1 enable did not reach the GIC")
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
	if err := b.reg.Restore(states); err != nil {
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
	if vs := a.reg.Versions(); len(vs) != 4 || vs[0] != (migrate.StateVersion{Name: stateCPU, Version: cpu.StateVersion, Oldest: cpu.StateOldest}) {
		t.Errorf("versions %+v", vs)
	}
}
