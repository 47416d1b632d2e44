// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

import (
	"slices"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/net/enet"
	"github.com/ferry-hv/ferry/phys"
)

// Ferry's management NIC on the EVK is the FEC (ENET1): the board's DTB
// has one node compatible with FECCompatible, and with it as the NIC the
// machine makes it Ferry's -- its node gone from the guest's DTB, its
// registers unmapped, its first interrupt (SPI 118, INTID 150) Ferry's,
// with the distributor page holding its GICD_IROUTER trapped -- while the
// EQOS, the other port, stays a hidden bus master.
func TestEVKManagementNIC(t *testing.T) {
	_, b := evk(t)
	var fec []dtb.Ethernet
	for _, e := range b.Ethernet {
		if e.Is(FECCompatible) {
			fec = append(fec, e)
		}
	}
	if len(fec) != 1 || fec[0].Reg.Base != 0x30be0000 || len(fec[0].SPIs) == 0 || fec[0].SPIs[0] != 118 {
		t.Fatalf("%s nodes: %+v, want one at 0x30be0000 with SPI 118 first", FECCompatible, fec)
	}
	d, err := hyp.Describe(b, hyp.Options{GuestBase: GuestBase, TickINTID: HypTimerINTID, MaintINTID: MaintINTID, MgmtNIC: fec[0].Path})
	if err != nil {
		t.Fatal(err)
	}
	const intid = 118 + gic.FirstSPI
	if d.MgmtNIC != intid || !slices.Equal(d.Owned.SPIs, []uint32{intid}) {
		t.Errorf("NIC INTID %d, Ferry's SPIs %v; want %d", d.MgmtNIC, d.Owned.SPIs, intid)
	}
	for _, x := range d.Devices {
		switch x.Path {
		case fec[0].Path:
			if x.Treat != hyp.Own {
				t.Errorf("the FEC: %v, want Ferry's", x.Treat)
			}
		case "/soc@0/bus@30800000/ethernet@30bf0000":
			if x.Treat != hyp.Hidden {
				t.Errorf("the EQOS: %v, want hidden (a bus master)", x.Treat)
			}
		}
	}
	if !slices.Contains(d.Patch.RemoveNodes, fec[0].Path) {
		t.Errorf("the FEC's node stays in the guest's DTB: removed %v", d.Patch.RemoveNodes)
	}
	s := evkStage2(t, d)
	for _, a := range []uint64{0x30be0000, 0x30beffff} {
		if _, _, _, _, ok := s.Lookup(a); ok {
			t.Errorf("the FEC's registers at %#x are mapped for the guest", a)
		}
	}
	route := phys.Range{Base: b.GICD.Base + gic.RoutePage(intid), Size: 0x1000}
	if !slices.ContainsFunc(d.Ports, func(p hyp.Port) bool { return p.Range == route && p.Model == hyp.ModelGICRoute }) {
		t.Errorf("the distributor page %v with the FEC's GICD_IROUTER does not trap", route)
	}
	// A NIC that is neither a virtio transport nor an Ethernet MAC with
	// GIC SPIs is refused, naming it.
	if _, err := hyp.Describe(b, hyp.Options{GuestBase: GuestBase, TickINTID: HypTimerINTID, MaintINTID: MaintINTID, MgmtNIC: "/soc@0/bus@30800000/spba-bus@30800000/serial@30890000"}); err == nil {
		t.Error("a UART accepted as the management NIC")
	}
}

// The DMA window: the carve-out's top 2 MiB, right above the runtime's
// memory, a window EnableMMU accepts (2 MiB blocks in Ferry's
// GiB); the ENET's part large enough for its rings at their largest,
// the relay's, above it, for the EQOS's shadow rings.
func TestEVKDMAWindow(t *testing.T) {
	if DMABase+ENETSize != RelayBase || RelayBase+RelaySize != GuestBase || RelaySize < eqos.ShadowSize {
		t.Errorf("the ENET's part [%#x, %#x) and the relay's [%#x, %#x) do not split the window, or the relay's holds less than %#x bytes",
			DMABase, DMABase+ENETSize, RelayBase, RelayBase+RelaySize, eqos.ShadowSize)
	}
	if DMABase != RAMBase+RuntimeSize || DMABase+DMASize != GuestBase {
		t.Errorf("DMA window [%#x, %#x): not between the runtime's memory [%#x, %#x) and guest RAM at %#x",
			DMABase, DMABase+DMASize, RAMBase, RAMBase+RuntimeSize, GuestBase)
	}
	var l2 [512]uint64
	if err := mmu.EL2Level2(&l2, RAMBase&^(1<<30-1), phys.Range{Base: DMABase, Size: DMASize}); err != nil {
		t.Errorf("EnableMMU would refuse the window: %v", err)
	}
	mem := make([]byte, ENETSize)
	r, err := enet.NewRegion(mem, DMABase, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 * enet.MaxRing {
		if _, _, err := r.Alloc(1536, 64); err != nil {
			t.Fatalf("buffer %d of %d: %v", i, 2*enet.MaxRing, err)
		}
	}
	if _, _, err := r.Alloc(2*enet.MaxRing*8, 64); err != nil {
		t.Fatalf("the rings: %v", err)
	}
}
