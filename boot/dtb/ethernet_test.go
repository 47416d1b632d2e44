// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dtb

import (
	"bytes"
	"net"
	"reflect"
	"testing"

	"github.com/u-root/u-root/pkg/dt"

	"github.com/ferry-hv/ferry/phys"
)

// ethernetTree has three MACs on a bus with a non-identity ranges: one
// with its PHY on its own MDIO bus and a firmware-filled mac-address, one
// whose PHY is on the first's bus (a shared MDIO bus), disabled, with a
// zero local-mac-address and a PPI among its interrupts, and one with a
// broken phy-handle and interrupts through another controller.
func ethernetTree(t *testing.T) []byte {
	u32 := func(name string, v ...uint32) dt.Property { return dt.PropertyU32Array(name, v) }
	str := dt.PropertyString
	bytesProp := func(name string, v ...byte) dt.Property { return dt.Property{Name: name, Value: v} }
	root := dt.NewNode("",
		dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 1), u32("interrupt-parent", 1)),
		dt.WithChildren(
			dt.NewNode("memory@80000000", dt.WithProperty(str("device_type", "memory"), u32("reg", 0x80000000, 0x10000000))),
			dt.NewNode("chosen", dt.WithProperty(str("stdout-path", "/soc/serial@1000"))),
			dt.NewNode("soc", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 1), u32("ranges", 0x0, 0x30000000, 0x100000)),
				dt.WithChildren(
					dt.NewNode("serial@1000", dt.WithProperty(str("compatible", "arm,pl011"), u32("reg", 0x1000, 0x1000))),
					dt.NewNode("intc@40000", dt.WithProperty(str("compatible", "arm,gic-v3"), u32("phandle", 1),
						u32("#interrupt-cells", 3), u32("reg", 0x40000, 0x10000, 0x60000, 0x20000))),
					dt.NewNode("irqsteer@70000", dt.WithProperty(u32("phandle", 2), u32("#interrupt-cells", 1), u32("reg", 0x70000, 0x1000))),
					dt.NewNode("ethernet@8000", dt.WithProperty(str("compatible", "fsl,imx8mp-fec"), u32("reg", 0x8000, 0x1000),
						u32("interrupts", 0, 118, 4, 0, 119, 4), str("phy-mode", "rgmii-id"), u32("phy-handle", 3),
						bytesProp("mac-address", 0x00, 0x04, 0x9f, 1, 2, 3), bytesProp("local-mac-address", 0x02, 0, 0, 0, 0, 9)),
						dt.WithChildren(dt.NewNode("mdio", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 0)),
							dt.WithChildren(
								dt.NewNode("ethernet-phy@1", dt.WithProperty(u32("reg", 1), u32("phandle", 3))),
								dt.NewNode("ethernet-phy@4", dt.WithProperty(u32("reg", 4), u32("phandle", 4))),
							)))),
					dt.NewNode("ethernet@9000", dt.WithProperty(str("compatible", "snps,dwmac"), u32("reg", 0x9000, 0x1000),
						u32("interrupts", 0, 135, 4, 1, 9, 4), str("phy-connection-type", "rgmii"), u32("phy-handle", 4),
						str("status", "disabled"), bytesProp("local-mac-address", 0, 0, 0, 0, 0, 0))),
					dt.NewNode("ethernet@a000", dt.WithProperty(u32("reg", 0xa000, 0x100), u32("phy-handle", 99),
						u32("interrupt-parent", 2), u32("interrupts", 7))),
					dt.NewNode("ethernet-switch@b000", dt.WithProperty(u32("reg", 0xb000, 0x100))), // not a MAC node
				)),
		))
	f := &dt.FDT{Header: dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16}, RootNode: root}
	var buf bytes.Buffer
	if _, err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseEthernet(t *testing.T) {
	b, err := Parse(ethernetTree(t))
	if err != nil {
		t.Fatal(err)
	}
	want := []Ethernet{
		{Path: "/soc/ethernet@8000", Compatible: []string{"fsl,imx8mp-fec"}, Reg: phys.Range{Base: 0x30008000, Size: 0x1000},
			SPIs: []uint32{118, 119}, MAC: net.HardwareAddr{0x00, 0x04, 0x9f, 1, 2, 3}, PHYMode: "rgmii-id", PHY: 1, PHYOnOwnBus: true, Enabled: true},
		{Path: "/soc/ethernet@9000", Compatible: []string{"snps,dwmac"}, Reg: phys.Range{Base: 0x30009000, Size: 0x1000},
			PHYMode: "rgmii", PHY: 4},
		{Path: "/soc/ethernet@a000", Reg: phys.Range{Base: 0x3000a000, Size: 0x100}, PHY: -1, Enabled: true},
	}
	if !reflect.DeepEqual(b.Ethernet, want) {
		t.Errorf("Ethernet:\n got %+v\nwant %+v", b.Ethernet, want)
	}
	if !b.Ethernet[0].Is("fsl,imx8mp-fec") || b.Ethernet[1].Is("fsl,imx8mp-fec") {
		t.Error("Is")
	}
}

// A MAC node Ferry cannot read is still parsed, its unreadable fields
// zero: it never refuses the board.
func TestParseEthernetBestEffort(t *testing.T) {
	blob := mutate(t, ethernetTree(t), func(f *dt.FDT) {
		n := findNode(f.RootNode, "/soc/ethernet@8000")
		for i := range n.Properties {
			switch n.Properties[i].Name {
			case "interrupts":
				n.Properties[i].Value = []byte{0, 0, 0, 0, 0} // not a whole specifier
			case "phy-handle":
				n.Properties[i].Value = []byte{1, 2}
			case "mac-address":
				n.Properties[i].Value = []byte{1, 2, 3, 4, 5, 6} // multicast
			}
		}
	})
	b, err := Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	e := b.Ethernet[0]
	if e.SPIs != nil || e.PHY != -1 || !bytes.Equal(e.MAC, []byte{2, 0, 0, 0, 0, 9}) {
		t.Errorf("broken node: SPIs %v, PHY %d, MAC %v (want nil, -1, the local-mac-address)", e.SPIs, e.PHY, e.MAC)
	}
}
