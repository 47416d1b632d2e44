// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// The QEMU board's layout, as boot/virt has it.
const (
	qemuGuestBase = 0x48000000
	qemuTick      = 26
	qemuMaint     = 25                     // PPI 9, the interrupts property of QEMU's GIC node
	qemuMgmtNIC   = "/virtio_mmio@a003e00" // the last transport: the first -device on QEMU's command line
	qemuRoute     = 0x80000000             // GICD_IROUTER for MPIDR 0x80000000 (CPU 0): affinity 0
)

func qemuBoard(t *testing.T, file string) (*dtb.Board, []byte) {
	t.Helper()
	blob, err := os.ReadFile(filepath.Join("..", "boot", "dtb", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	b, err := dtb.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	return b, blob
}

// stage2Of builds the description's stage-2 tables over a byte slice.
func stage2Of(t *testing.T, d *Description) *mmu.Stage2 {
	t.Helper()
	const base = 0x1000_0000_0000 // the arena's "physical" address: anywhere the tables do not map
	a, err := mmu.NewArena(make([]byte, d.Stage2Pages()*mmu.PageSize), base)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mmu.NewStage2(a, ipaBits)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.MapStage2(s); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDescribeQEMU(t *testing.T) {
	for _, tc := range []struct {
		file, nic string
		ram       phys.Range
	}{
		{"virt-gicv3-1g.dtb", qemuMgmtNIC, phys.Range{Base: qemuGuestBase, Size: 0x38000000}},
		{"virt-gicv3-512m.dtb", qemuMgmtNIC, phys.Range{Base: qemuGuestBase, Size: 0x18000000}},
		{"virt-gicv3-1g-2nic.dtb", "/virtio_mmio@a003c00", phys.Range{Base: qemuGuestBase, Size: 0x38000000}},
		{"virt-gicv3-1g.dtb", "", phys.Range{Base: qemuGuestBase, Size: 0x38000000}}, // no management network
	} {
		t.Run(tc.file+tc.nic, func(t *testing.T) {
			b, blob := qemuBoard(t, tc.file)
			d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: tc.nic, TickINTID: qemuTick, Route: qemuRoute, MaintINTID: qemuMaint})
			if err != nil {
				t.Fatal(err)
			}
			if d.Console != ConsolePL011 || d.UART != (phys.Range{Base: 0x9000000, Size: 0x1000}) {
				t.Errorf("console %v at %v, want the PL011 at 0x9000000", d.Console, d.UART)
			}
			if !reflect.DeepEqual(d.RAM, []phys.Range{tc.ram}) {
				t.Errorf("RAM = %v, want %v", d.RAM, tc.ram)
			}
			treat := map[string]Treatment{}
			for _, x := range d.Devices {
				treat[x.Path] = x.Treat
			}
			want := map[string]Treatment{
				"/intc@8000000":             Trapped,
				"/intc@8000000/its@8080000": Hidden,
				"/fw-cfg@9020000":           Hidden,
				"/pl011@9000000":            PassThrough,
				"/pl031@9010000":            PassThrough,
				"/virtio_mmio@a003a00":      PassThrough,
				"/pcie@10000000":            Hidden, // a bus master's bridge, though nothing is behind it
				"/flash@0":                  PassThrough,
			}
			if tc.nic != "" {
				want[tc.nic] = Own
			}
			for path, w := range want {
				if got, ok := treat[path]; !ok || got != w {
					t.Errorf("%s: %v (listed %v), want %v", path, got, ok, w)
				}
			}
			// Ferry's interrupts: its timer, the maintenance interrupt,
			// and its NIC's SPI (the transport's, SPI 16 + its index)
			// routed to its CPU.
			owned := gic.Owned{PPIs: []uint32{qemuTick, qemuMaint}, Route: qemuRoute}
			if tc.nic != "" {
				var base uint64 // the transport's index from its address
				fmt.Sscanf(tc.nic, "/virtio_mmio@%x", &base)
				owned.SPIs = []uint32{gic.FirstSPI + 16 + uint32((base-0xa000000)/0x200)}
			}
			if !reflect.DeepEqual(d.Owned, owned) || (tc.nic != "" && d.MgmtNIC != owned.SPIs[0]) {
				t.Errorf("Owned = %+v, NIC %d; want %+v", d.Owned, d.MgmtNIC, owned)
			}

			// Stage 2: what the guest reaches, and how.
			s := stage2Of(t, d)
			for _, c := range []struct {
				ipa    uint64
				mapped bool
				attr   mmu.S2Attr
			}{
				{tc.ram.Base, true, mmu.S2Normal},
				{tc.ram.End() - 1, true, mmu.S2Normal},
				{qemuGuestBase - 1, false, 0}, // Ferry's carve-out
				{0x40000000, false, 0},
				{0x9000000, true, mmu.S2Device}, // the UART, passed through
				{0x9000ffc, true, mmu.S2Device}, //   all of its page
				{0x9010000, true, mmu.S2Device}, // the RTC
				{0x9020000, false, 0},           // fw-cfg: hidden
				{0x8000000, false, 0},           // GICD_CTLR's page: trapped
				{0x8001000, true, mmu.S2Device}, // the rest of the distributor
				{0x80a0000, false, 0},           // RD_base: trapped
				{0x80b0000, false, 0},           // SGI_base: trapped
				{0x80a1000, true, mmu.S2Device}, // the rest of the frame
				{0x80c0000, false, 0},           // the next redistributor: not the guest's
				{0x8080000, false, 0},           // the ITS: hidden
				{0x809f000, false, 0},           //   all of it
				{0xa002000, true, mmu.S2Device}, // virtio transports the guest keeps
				{0x10000000, false, 0},          // PCIe MMIO: the host bridge is hidden
				{0x8000000000, false, 0},
				{0xc000000, false, 0}, // the platform bus: no device
			} {
				pa, attr, writable, _, ok := s.Lookup(c.ipa)
				if ok != c.mapped || (ok && (pa != c.ipa || attr != c.attr || !writable)) {
					t.Errorf("stage 2 at %#x: pa %#x attr %v writable %v mapped %v; want mapped %v attr %v", c.ipa, pa, attr, writable, ok, c.mapped, c.attr)
				}
			}
			_, _, _, _, nicMapped := s.Lookup(0xa003000)
			if nicMapped != (tc.nic == "") {
				t.Errorf("the NIC transports' page mapped %v with NIC %q", nicMapped, tc.nic)
			}
			// The distributor page with the NIC's GICD_IROUTER<n> traps
			// when Ferry owns the NIC.
			_, _, _, _, routeMapped := s.Lookup(0x8000000 + gic.GICD_IROUTERn)
			if routeMapped != (tc.nic == "") {
				t.Errorf("the IROUTER page mapped %v with NIC %q", routeMapped, tc.nic)
			}

			// The bus: the GIC's pages behind the guard, the NIC's page
			// behind a hole that forwards the other transports.
			g := fakeGIC{mmio.NewFake(mmu.PageSize), mmio.NewFake(mmu.PageSize), mmio.NewFake(mmu.PageSize), mmio.NewFake(mmu.PageSize)}
			page := mmio.NewFake(mmu.PageSize)
			var bus mmio.Bus
			if err := d.Bus(&bus, []GICPages{g}, func(base, size uint64) mmio.Device {
				if base != 0xa003000 || size != mmu.PageSize {
					t.Errorf("forward(%#x, %#x)", base, size)
				}
				return page
			}, func(r phys.Range) mmio.Device {
				t.Errorf("a transport model at %v without a guest NIC", r)
				return nil
			}, nil); err != nil {
				t.Fatal(err)
			}
			for ipa, want := range map[uint64]mmio.Device{0x8000000: g.DistPage(), 0x80a0000: g.RDPage(), 0x80b0000: g.SGIPage()} {
				if dev, off, ok := bus.Lookup(ipa + 8); !ok || off != 8 || dev != want {
					t.Errorf("bus at %#x: %T off %#x ok %v", ipa, dev, off, ok)
				}
			}
			for _, ipa := range []uint64{0x9000000, 0x8001000, 0xa002000} {
				if _, _, ok := bus.Lookup(ipa); ok {
					t.Errorf("bus at %#x: a passed-through page is on the bus", ipa)
				}
			}
			if dev, _, ok := bus.Lookup(0x8000000 + gic.GICD_IROUTERn); ok != (tc.nic != "") || (ok && dev != g.route) {
				t.Errorf("bus at the IROUTER page: %v, %v", dev, ok)
			}
			if _, _, ok := bus.Lookup(0xa003000); ok != (tc.nic != "") {
				t.Errorf("bus at the NIC's page: %v with NIC %q", ok, tc.nic)
			}
			if tc.nic != "" {
				dev, _, _ := bus.Lookup(0xa003000)
				nicOff := uint64(0)
				if tc.nic == qemuMgmtNIC {
					nicOff = 0xe00
				} else {
					nicOff = 0xc00
				}
				dev.Write(nicOff+0x70, 4, 0xf) // Ferry's transport: looks empty
				dev.Write(0x870, 4, 0xd)       // another transport's: reaches it
				if w := page.Writes(); len(w) != 1 || w[0].Off != 0x870 {
					t.Errorf("writes through the hole: %v", w)
				}
			}

			// The guest's DTB: the hidden and owned nodes go, RAM is the
			// guest's; and describing it again gives the same machine.
			gb := guestBoard(t, blob, d.Patch)
			if !reflect.DeepEqual(gb.Memory, d.RAM) {
				t.Errorf("guest DTB memory %v, want %v", gb.Memory, d.RAM)
			}
			for _, dev := range gb.Devices {
				if dev.Is("arm,gic-v3-its") || dev.Is("qemu,fw-cfg-mmio") || dev.Path == tc.nic {
					t.Errorf("guest DTB still has %s", dev.Path)
				}
			}
			again, err := Describe(gb, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick, MaintINTID: qemuMaint})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(again.Stage2, d.Stage2) && tc.nic == "" {
				t.Errorf("the guest's DTB describes another machine:\n%v\n%v", again.Stage2, d.Stage2)
			}
			if !slices.Equal(again.Visible(), d.Visible()) {
				t.Errorf("visible devices differ:\n%q\n%q", again.Visible(), d.Visible())
			}
			fp := migrate.Fingerprint{Protocol: migrate.ProtocolVersion, PageSize: migrate.PageSize, RAM: d.RAM, Devices: d.Visible()}
			if _, err := fp.Encode(); err != nil {
				t.Errorf("the visible devices do not fit a fingerprint: %v", err)
			}
			if !slices.Contains(d.Visible(), "arm,pl011@0x9000000:passthrough") || !slices.Contains(d.Visible(), "arm,gic-v3@0x8000000:trapped") {
				t.Errorf("visible: %q", d.Visible())
			}
			for _, v := range d.Visible() {
				if strings.Contains(v, "fw-cfg") || strings.Contains(v, "its") {
					t.Errorf("visible: %q", v)
				}
			}
		})
	}
}

// fakeGIC serves the guard's pages with fakes, to tell them apart.
type fakeGIC struct{ dist, rd, sgi, route *mmio.Fake }

func (f fakeGIC) DistPage() mmio.Device { return f.dist }
func (f fakeGIC) RDPage() mmio.Device   { return f.rd }
func (f fakeGIC) SGIPage() mmio.Device  { return f.sgi }
func (f fakeGIC) RoutePages() map[uint64]mmio.Device {
	return map[uint64]mmio.Device{gic.GICD_IROUTERn: f.route} // the page of INTIDs 32-511
}

// The guest's own NIC: its transport traps to a model, in the page it
// shares with Ferry's NIC (a hole) and the other transports (forwarded),
// or alone on it; it stays in the guest's DTB.
func TestDescribeGuestNIC(t *testing.T) {
	const guestNIC = "/virtio_mmio@a003c00"
	b, _ := qemuBoard(t, "virt-gicv3-1g-2nic.dtb")
	for _, tc := range []struct {
		nic   string
		parts []Part
	}{
		{qemuMgmtNIC, []Part{{phys.Range{Base: 0xa003c00, Size: 0x200}, ModelVirtio}, {phys.Range{Base: 0xa003e00, Size: 0x200}, ModelHole}}},
		{"", []Part{{phys.Range{Base: 0xa003c00, Size: 0x200}, ModelVirtio}}},
	} {
		d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: tc.nic, GuestNICs: []string{guestNIC}, TickINTID: qemuTick, MaintINTID: qemuMaint})
		if err != nil {
			t.Fatal(err)
		}
		i := slices.IndexFunc(d.Devices, func(x Device) bool { return x.Path == guestNIC })
		if d.Devices[i].Treat != Trapped || slices.Contains(d.Patch.RemoveNodes, guestNIC) {
			t.Errorf("guest NIC %v, removed %v", d.Devices[i].Treat, d.Patch.RemoveNodes)
		}
		j := slices.IndexFunc(d.Ports, func(p Port) bool { return p.Base == 0xa003000 })
		if j < 0 || d.Ports[j].Model != ModelPage || !reflect.DeepEqual(d.Ports[j].Parts, tc.parts) {
			t.Fatalf("NIC %q: ports %+v", tc.nic, d.Ports)
		}
		if _, _, _, _, ok := stage2Of(t, d).Lookup(0xa003c00); ok {
			t.Error("the guest NIC's page is mapped")
		}
		if !slices.Contains(d.Visible(), "virtio,mmio@0xa003c00:trapped") {
			t.Errorf("visible: %q", d.Visible())
		}
		page := mmio.NewFake(mmu.PageSize)
		var models []*mmio.Fake
		var bus mmio.Bus
		g := fakeGIC{mmio.NewFake(mmu.PageSize), mmio.NewFake(mmu.PageSize), mmio.NewFake(mmu.PageSize), mmio.NewFake(mmu.PageSize)}
		if err := d.Bus(&bus, []GICPages{g}, func(base, size uint64) mmio.Device { return page }, func(r phys.Range) mmio.Device {
			if r != (phys.Range{Base: 0xa003c00, Size: 0x200}) {
				t.Errorf("model at %v", r)
			}
			m := mmio.NewFake(0x200)
			models = append(models, m)
			return m
		}, nil); err != nil {
			t.Fatal(err)
		}
		dev, _, _ := bus.Lookup(0xa003000)
		dev.Write(0xc70, 4, 0xf) // the guest NIC's Status: to its model
		dev.Write(0xe70, 4, 0xf) // Ferry's NIC's, or an empty transport's
		dev.Write(0x870, 4, 0xd) // another transport's
		if len(models) != 1 || len(models[0].Writes()) != 1 || models[0].Writes()[0].Off != 0x70 {
			t.Fatalf("model writes %v", models)
		}
		wantPage := 1
		if tc.nic == "" {
			wantPage = 2 // 0xe00 is then an ordinary transport
		}
		if w := page.Writes(); len(w) != wantPage {
			t.Errorf("NIC %q: page writes %v", tc.nic, w)
		}
	}
}

func TestDescribeRefuses(t *testing.T) {
	b, _ := qemuBoard(t, "virt-gicv3-1g.dtb")
	for name, tc := range map[string]struct {
		b    func() *dtb.Board
		o    Options
		want string
	}{
		"no RAM above the carve-out": {func() *dtb.Board { return b }, Options{GuestBase: 0x80000000, MaintINTID: qemuMaint}, "leaves nothing above"},
		"no maintenance interrupt":   {func() *dtb.Board { return b }, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick}, "no maintenance interrupt"},
		"no such NIC":                {func() *dtb.Board { return b }, Options{GuestBase: qemuGuestBase, MgmtNIC: "/virtio_mmio@bad", MaintINTID: qemuMaint}, "not a virtio-mmio transport of the board"},
		"two kept devices overlap": {func() *dtb.Board {
			c := *b
			c.Devices = append(slices.Clone(b.Devices), dtb.Device{Path: "/fw-cfg2", Compatible: []string{"qemu,fw-cfg-mmio"}, Regs: []phys.Range{{Base: 0xa003e10, Size: 0x18}}})
			return &c
		}, Options{GuestBase: qemuGuestBase, MgmtNIC: qemuMgmtNIC, MaintINTID: qemuMaint}, "overlap in page"},
		"a page kept whole and in part": {func() *dtb.Board {
			c := *b
			c.Devices = append(slices.Clone(b.Devices), dtb.Device{Path: "/fw-cfg2", Compatible: []string{"qemu,fw-cfg-mmio"}, Regs: []phys.Range{{Base: 0x8000100, Size: 0x18}}})
			return &c
		}, Options{GuestBase: qemuGuestBase, MaintINTID: qemuMaint}, "kept twice"},
		"console not a supported UART": {func() *dtb.Board {
			c := *b
			c.UARTPath, c.UARTCompatible = "/pl031@9010000", []string{"arm,pl031", "arm,primecell"}
			return &c
		}, Options{GuestBase: qemuGuestBase, MaintINTID: qemuMaint}, "console /pl031@9010000 (arm,pl031, arm,primecell) is not a UART Ferry supports (arm,pl011, fsl,imx6q-uart)"},
		"no PSCI (U-Boot at EL3 without its own)": {func() *dtb.Board {
			c := *b
			c.PSCIMethod = ""
			return &c
		}, Options{GuestBase: qemuGuestBase, MaintINTID: qemuMaint}, "the DTB has no /psci node: Ferry needs the firmware's PSCI over SMC"},
		"PSCI over HVC": {func() *dtb.Board {
			c := *b
			c.PSCIMethod = "hvc"
			return &c
		}, Options{GuestBase: qemuGuestBase, MaintINTID: qemuMaint}, `/psci method "hvc"`},
		"RAM over a device": {func() *dtb.Board {
			c := *b
			c.Memory = []phys.Range{{Base: 0x40000000, Size: 0x40000000}, {Base: 0x9000000, Size: 0x1000}}
			return &c
		}, Options{GuestBase: 0x9000000, MaintINTID: qemuMaint}, "overlaps a device"},
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := Describe(tc.b(), tc.o); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// A virtio device Ferry does not relay (a legacy transport, a block
// device) is hidden: its DMA would go where the guest says. On QEMU's
// board its part of the shared page is a hole.
func TestDescribeUnrelayedVirtio(t *testing.T) {
	const other = "/virtio_mmio@a003c00"
	b, _ := qemuBoard(t, "virt-gicv3-1g-2nic.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: qemuMgmtNIC, Unrelayed: []string{other}, TickINTID: qemuTick, MaintINTID: qemuMaint})
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(d.Devices, func(x Device) bool { return x.Path == other })
	if d.Devices[i].Treat != Hidden || !slices.Contains(d.Patch.RemoveNodes, other) {
		t.Errorf("%s: %v, removed %v", other, d.Devices[i].Treat, d.Patch.RemoveNodes)
	}
	j := slices.IndexFunc(d.Ports, func(p Port) bool { return p.Base == 0xa003000 })
	want := []Part{{phys.Range{Base: 0xa003c00, Size: 0x200}, ModelHole}, {phys.Range{Base: 0xa003e00, Size: 0x200}, ModelHole}}
	if j < 0 || !reflect.DeepEqual(d.Ports[j].Parts, want) {
		t.Fatalf("ports %+v", d.Ports)
	}
	if slices.ContainsFunc(d.Visible(), func(s string) bool { return strings.Contains(s, "0xa003c00") }) {
		t.Errorf("visible: %q", d.Visible())
	}
}

// The guest's interrupts go through the virtual CPU interface: Ferry keeps
// its maintenance PPI with its timer's and its NIC's SPI.
func TestDescribeVirtualInterface(t *testing.T) {
	b, _ := qemuBoard(t, "virt-gicv3-1g.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: qemuMgmtNIC, TickINTID: qemuTick, MaintINTID: qemuMaint, Route: qemuRoute})
	if err != nil {
		t.Fatal(err)
	}
	want := gic.Owned{PPIs: []uint32{qemuTick, 25}, SPIs: []uint32{d.MgmtNIC}, Route: qemuRoute}
	if !reflect.DeepEqual(d.Owned, want) || d.Maint != 25 {
		t.Errorf("Owned %+v, Maint %d; want %+v, 25", d.Owned, d.Maint, want)
	}
}

// TestDescribeCPUs: on a board with four CPUs the guest's DTB keeps only
// the boot CPU's node (the guest has one vCPU, there), and drops the
// topology that names the others; the kick SGI is Ferry's.
func TestDescribeCPUs(t *testing.T) {
	b, blob := qemuBoard(t, "virt-gicv3-1g-smp4.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick, Route: qemuRoute | 2, MaintINTID: qemuMaint, Kick: 7})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"/cpus/cpu@0", "/cpus/cpu@1", "/cpus/cpu@3", "/cpus/cpu-map"} {
		if !slices.Contains(d.Patch.RemoveNodes, p) {
			t.Errorf("%s kept in the guest's DTB (removed: %v)", p, d.Patch.RemoveNodes)
		}
	}
	if slices.Contains(d.Patch.RemoveNodes, "/cpus/cpu@2") {
		t.Error("the boot CPU's node removed")
	}
	if !slices.Equal(d.Owned.SGIs, []uint32{7}) || d.Kick != 7 {
		t.Errorf("owned SGIs %v, kick %d", d.Owned.SGIs, d.Kick)
	}
	g := guestBoard(t, blob, d.Patch)
	if len(g.CPUs) != 1 || g.CPUs[0].MPIDR != 2 || g.CPUMap != "" {
		t.Errorf("guest's CPUs %+v, cpu-map %q", g.CPUs, g.CPUMap)
	}
	one, _ := qemuBoard(t, "virt-gicv3-1g.dtb")
	if d, err := Describe(one, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick, Route: qemuRoute, MaintINTID: qemuMaint}); err != nil || slices.ContainsFunc(d.Patch.RemoveNodes, func(p string) bool { return strings.HasPrefix(p, "/cpus") }) || d.Owned.SGIs != nil {
		t.Errorf("one CPU: removed %v, owned SGIs %v, %v", d.Patch.RemoveNodes, d.Owned.SGIs, err)
	}
}

// TestDescribeTwoVCPUs: a guest with vCPUs on CPUs 0 and 1 of four keeps
// their nodes, has both their redistributor frames trapped (RD_base and
// SGI_base pages, by frame) and the other two unmapped.
func TestDescribeTwoVCPUs(t *testing.T) {
	b, _ := qemuBoard(t, "virt-gicv3-1g-smp4.dtb")
	d, err := Describe(b, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick, Route: qemuRoute, MaintINTID: qemuMaint, Kick: 7, VCPUs: []uint64{0, 1}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"/cpus/cpu@2", "/cpus/cpu@3", "/cpus/cpu-map"}
	for _, p := range want {
		if !slices.Contains(d.Patch.RemoveNodes, p) {
			t.Errorf("%s kept (removed: %v)", p, d.Patch.RemoveNodes)
		}
	}
	for _, p := range []string{"/cpus/cpu@0", "/cpus/cpu@1"} {
		if slices.Contains(d.Patch.RemoveNodes, p) {
			t.Errorf("%s removed", p)
		}
	}
	frames := map[uint64]int{}
	for _, p := range d.Ports {
		if p.Model == ModelGICRD || p.Model == ModelGICSGI {
			frames[p.Base] = p.Frame
		}
	}
	wantFrames := map[uint64]int{0x80a0000: 0, 0x80b0000: 0, 0x80c0000: 1, 0x80d0000: 1}
	if !reflect.DeepEqual(frames, wantFrames) {
		t.Errorf("redistributor ports %#v, want %#v", frames, wantFrames)
	}
	var gicDev Device
	for _, x := range d.Devices {
		if x.Path == "/intc@8000000" {
			gicDev = x
		}
	}
	if want := []phys.Range{{Base: b.GICR.Base + 2*gic.GICR_FrameSize, Size: b.GICR.Size - 2*gic.GICR_FrameSize}}; !reflect.DeepEqual(gicDev.Unmapped, want) {
		t.Errorf("unmapped %v, want %v", gicDev.Unmapped, want)
	}
	for _, tc := range []struct {
		vcpus []uint64
		want  string
	}{
		{[]uint64{1, 0}, "not the boot CPU's"},
		{[]uint64{0, 1, 1}, "both have affinity 0x1"},
		{func() []uint64 {
			v := make([]uint64, 200)
			for i := range v {
				v[i] = uint64(i)
			}
			return v
		}(), "holds 123 frames"},
	} {
		if _, err := Describe(b, Options{GuestBase: qemuGuestBase, TickINTID: qemuTick, Route: qemuRoute, MaintINTID: qemuMaint, VCPUs: tc.vcpus}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("vCPUs %v: %v, want %q", tc.vcpus, err, tc.want)
		}
	}
}

// guestBoard is the board the guest's DTB (the firmware's blob with p)
// describes.
func guestBoard(t *testing.T, blob []byte, p dtb.Patch) *dtb.Board {
	t.Helper()
	out, err := dtb.Apply(blob, p)
	if err != nil {
		t.Fatal(err)
	}
	g, err := dtb.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return g
}
