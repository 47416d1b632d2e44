// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/dt"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// evkBusMasters are the devices of the EVK's DTB that read and write
// memory by themselves at addresses their driver programs (docs/dma.md,
// "The i.MX8M Plus EVK"), each with what masters the bus. The i.MX8M Plus
// has no IOMMU: every one is hidden from the guest (its node removed, its
// pages unmapped), the CAAM's job rings with the CAAM -- but the EQOS,
// which Ferry relays (evkRelayed). Ferry's management NIC, when it is one
// of them, is Ferry's instead.
var evkBusMasters = map[string]string{
	"/soc@0/bus@30800000/mmc@30b40000":            "uSDHC1 (ADMA2)",
	"/soc@0/bus@30800000/mmc@30b50000":            "uSDHC2, the SD slot (ADMA2)",
	"/soc@0/bus@30800000/mmc@30b60000":            "uSDHC3, the eMMC (ADMA2)",
	"/soc@0/bus@30800000/dma-controller@30bd0000": "SDMA1",
	"/soc@0/bus@30800000/ethernet@30be0000":       "the FEC (ENET)",
	"/soc@0/pcie@33800000":                        "the PCIe host bridge",
	"/soc@0/gpu@38000000":                         "the 3D GPU (GC7000UL)",
	"/soc@0/gpu@38008000":                         "the 2D GPU (GC520L)",
	"/soc@0/usb@32f10100/usb@38100000":            "USB1's DWC3 core",
	"/soc@0/usb@32f10108/usb@38200000":            "USB2's DWC3 core",
	"/soc@0/dsp@3b6e8000":                         "the HiFi4 DSP",
	"/soc@0/bus@30800000/crypto@30900000":         "the CAAM",
	"/soc@0/bus@30800000/crypto@30900000/jr@1000": "a CAAM job ring",
	"/soc@0/bus@30800000/crypto@30900000/jr@2000": "a CAAM job ring",
	"/soc@0/bus@30800000/crypto@30900000/jr@3000": "a CAAM job ring",
}

// evkRelayed is the bus master of the EVK Ferry relays: the EQOS.
const evkRelayed = "/soc@0/bus@30800000/ethernet@30bf0000"

// evkOptions are the EVK's description options, with the board's relay
// window.
func evkOptions() hyp.Options {
	return hyp.Options{GuestBase: GuestBase, TickINTID: HypTimerINTID, MaintINTID: MaintINTID, RelayDMA: phys.Range{Base: RelayBase, Size: RelaySize}}
}

// Each bus master of the EVK is hidden: no page of it mapped at stage 2,
// no node of it in the guest's DTB; and only those: the devices around
// them that do not master the bus (the DWC3 glue and PHYs, the PCIe PHY,
// the UARTs whose DMA was SDMA's, the AIPS buses they sit on) are still
// the guest's. The EQOS is relayed (TestEVKRelayedEQOS).
func TestEVKBusMasters(t *testing.T) {
	blob, b := evk(t)
	d, err := hyp.Describe(b, evkOptions())
	if err != nil {
		t.Fatal(err)
	}
	s := evkStage2(t, d)
	g := guestDTB(t, blob, d)
	inGuest := map[string]bool{}
	for _, dev := range g.Devices {
		inGuest[dev.Path] = true
	}

	found := map[string]bool{}
	for _, x := range d.Devices {
		what, master := evkBusMasters[x.Path]
		if x.Path == evkRelayed {
			found[x.Path] = true
			continue
		}
		if !master {
			if x.Treat == hyp.Hidden || x.Treat == hyp.Own {
				t.Errorf("%s (%v): %v (%s), but it is no bus master", x.Path, x.Compatible, x.Treat, x.Why)
			}
			continue
		}
		found[x.Path] = true
		if x.Treat != hyp.Hidden {
			t.Errorf("%s, %s: %v, want hidden", x.Path, what, x.Treat)
		}
		if !strings.Contains(x.Why, "bus master") && !strings.Contains(x.Why, "inside ") {
			t.Errorf("%s: hidden for %q, which does not say it masters the bus", x.Path, x.Why)
		}
		if inGuest[x.Path] {
			t.Errorf("%s, %s: still in the guest's DTB", x.Path, what)
		}
		for _, r := range x.Regs {
			r = r.RoundOut(mmu.PageSize)
			for pa := r.Base; pa < r.End(); pa += mmu.PageSize {
				if _, _, _, _, ok := s.Lookup(pa); ok {
					t.Errorf("%s, %s: page %#x mapped at stage 2", x.Path, what, pa)
					break
				}
			}
		}
	}
	for path, what := range evkBusMasters {
		if !found[path] {
			t.Errorf("%s (%s) is not a device of the EVK's DTB", path, what)
		}
	}
	if !found[evkRelayed] {
		t.Errorf("%s (the EQOS) is not a device of the EVK's DTB", evkRelayed)
	}
	for _, path := range []string{
		"/soc@0/usb@32f10100",                   // the DWC3 glue: wake-up control, no DMA
		"/soc@0/usb-phy@381f0040",               // USB1's PHY
		"/soc@0/bus@32c00000/pcie-phy@32f00000", // the PCIe PHY
		"/soc@0/bus@30800000/serial@30890000",   // the console, whose DMA was SDMA1's
		"/soc@0/bus@30800000/spi@30bb0000",      // FlexSPI: read through its AHB window, no master
		"/soc@0/bus@30800000",                   // the AIPS3 bus the masters sit on
		"/soc@0/bus@30800000/mailbox@30e60000",  // the DSP's mailbox
		"/soc@0/bus@32c00000/blk-ctrl@32f10000", // the HSIO block control, in the DWC3 glues' page
	} {
		if !inGuest[path] {
			t.Errorf("%s: gone from the guest's DTB", path)
		}
	}

	// With the FEC as Ferry's management NIC it is Ferry's, not hidden:
	// the management NIC's treatment wins over the bus-master rule.
	own := evkOptions()
	own.MgmtNIC = "/soc@0/bus@30800000/ethernet@30be0000"
	if d, err := hyp.Describe(b, own); err == nil {
		i := slices.IndexFunc(d.Devices, func(x hyp.Device) bool { return x.Path == own.MgmtNIC })
		if d.Devices[i].Treat != hyp.Own {
			t.Errorf("the management NIC %s: %v, want Ferry's", own.MgmtNIC, d.Devices[i].Treat)
		}
	} else if !strings.Contains(err.Error(), "management NIC") {
		t.Errorf("Describe with the FEC as the management NIC: %v", err)
	}
}

// The EQOS is the guest's, relayed: its node stays in the guest's DTB
// without its MTL configuration (so Linux's stmmac takes one queue each
// way: DMA channel 0), its DMA page traps to the relay's model, its other
// pages are passed through, and its shadow rings take the board's relay
// window. Without a relay window it is hidden, as every other bus master.
func TestEVKRelayedEQOS(t *testing.T) {
	blob, b := evk(t)
	d, err := hyp.Describe(b, evkOptions())
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(d.Devices, func(x hyp.Device) bool { return x.Path == evkRelayed })
	if i < 0 {
		t.Fatalf("no %s", evkRelayed)
	}
	x := d.Devices[i]
	if x.Treat != hyp.Trapped || !strings.Contains(x.Why, "relays") {
		t.Errorf("the EQOS: %v (%s), want trapped, relayed", x.Treat, x.Why)
	}
	dmaPage := phys.Range{Base: 0x30bf0000 + eqos.Page, Size: eqos.PageSize}
	if !slices.ContainsFunc(d.Ports, func(p hyp.Port) bool { return p.Range == dmaPage && p.Model == hyp.ModelEQOS }) {
		t.Errorf("the EQOS's DMA page %v does not trap to the relay: ports %v", dmaPage, d.Ports)
	}
	want := []hyp.Relayed{{Path: evkRelayed, Base: 0x30bf0000, Shadow: phys.Range{Base: RelayBase, Size: eqos.ShadowSize}}}
	if !slices.Equal(d.Relayed, want) {
		t.Errorf("relayed %+v, want %+v", d.Relayed, want)
	}
	s := evkStage2(t, d)
	for pa := uint64(0x30bf0000); pa < 0x30c00000; pa += mmu.PageSize {
		_, _, _, _, ok := s.Lookup(pa)
		if want := pa != dmaPage.Base; ok != want {
			t.Errorf("the EQOS's page %#x mapped %v, want %v", pa, ok, want)
		}
	}
	out, err := dtb.Apply(blob, d.Patch)
	if err != nil {
		t.Fatal(err)
	}
	f, err := dt.ReadFDT(bytes.NewReader(out))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := f.NodeByName("ethernet@30bf0000")
	if !ok {
		t.Fatal("the EQOS is not in the guest's DTB")
	}
	for _, p := range n.Properties {
		if p.Name == "snps,mtl-rx-config" || p.Name == "snps,mtl-tx-config" {
			t.Errorf("the guest's EQOS node keeps %s: Linux would take its five queues", p.Name)
		}
	}
	if len(n.Properties) < 10 {
		t.Errorf("the guest's EQOS node has %d properties left", len(n.Properties))
	}

	// No relay window: hidden.
	o := evkOptions()
	o.RelayDMA = phys.Range{}
	d, err = hyp.Describe(b, o)
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(d.Devices, func(x hyp.Device) bool { return x.Path == evkRelayed }); d.Devices[i].Treat != hyp.Hidden || len(d.Relayed) != 0 {
		t.Errorf("without a relay window the EQOS is %v, relayed %v", d.Devices[i].Treat, d.Relayed)
	}
}

// evkStage2 maps d's stage 2 in an arena the size the board's RAM needs.
// guestDTB is the guest's DTB that d's patch makes of the board's blob,
// parsed.
func guestDTB(t *testing.T, blob []byte, d *hyp.Description) *dtb.Board {
	t.Helper()
	out, err := dtb.Apply(blob, d.Patch)
	if err != nil {
		t.Fatal(err)
	}
	g, err := dtb.Parse(out)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func evkStage2(t *testing.T, d *hyp.Description) *mmu.Stage2 {
	t.Helper()
	a, err := mmu.NewArena(make([]byte, d.Stage2Pages()*mmu.PageSize), 0x1000_0000_0000)
	if err != nil {
		t.Fatal(err)
	}
	s, err := mmu.NewStage2(a, 40)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.MapStage2(s); err != nil {
		t.Fatal(err)
	}
	return s
}

// hiddenPages are the pages of d's hidden devices: what a description of
// the guest's DTB maps again where a hidden device sat in a bus's window
// (the AIPS buses' reg spans all their devices).
func hiddenPages(d *hyp.Description) []phys.Range {
	var rs []phys.Range
	for _, x := range d.Devices {
		if x.Treat == hyp.Hidden {
			for _, r := range x.Regs {
				rs = append(rs, r.RoundOut(mmu.PageSize))
			}
		}
	}
	return phys.Merge(rs)
}

// withHoles is m with the pages of holes unmapped.
func withHoles(m []hyp.Mapping, holes []phys.Range) []hyp.Mapping {
	var out []hyp.Mapping
	for _, x := range m {
		rs := []phys.Range{x.Range}
		for _, h := range holes {
			rs = phys.Subtract(rs, h)
		}
		for _, r := range rs {
			out = append(out, hyp.Mapping{Range: r, Device: x.Device})
		}
	}
	return out
}
