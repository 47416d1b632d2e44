// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dtb

import (
	"encoding/binary"
	"net"
	"strings"

	"github.com/u-root/u-root/pkg/dt"

	"github.com/ferry-hv/ferry/phys"
)

// Ethernet is an Ethernet MAC node of the board (a node named "ethernet",
// the devicetree specification's generic name, with registers): what a
// driver of Ferry's own needs beyond its Device entry. Every field is read
// best-effort -- a board whose Ethernet node Ferry cannot read is still a
// board -- and left zero when it cannot be.
type Ethernet struct {
	Path       string
	Compatible []string
	Reg        phys.Range // its first reg, in CPU addresses
	// SPIs are its interrupts, in order, as GIC SPI numbers (INTID - 32),
	// when every one of them is an SPI of the GIC; nil otherwise.
	SPIs []uint32
	// MAC is its mac-address, else its local-mac-address (the ones a boot
	// loader fills in), nil when neither is a unicast address.
	MAC net.HardwareAddr
	// PHYMode is its phy-mode (or phy-connection-type).
	PHYMode string
	// PHY is the MDIO address (reg) of the PHY its phy-handle names, -1
	// without one; PHYOnOwnBus says that PHY is on this MAC's own MDIO
	// bus (a child of the node), not on another MAC's.
	PHY         int
	PHYOnOwnBus bool
	Enabled     bool // status "okay" (or none)
}

// Is reports whether e is compatible with c.
func (e Ethernet) Is(c string) bool {
	for _, x := range e.Compatible {
		if x == c {
			return true
		}
	}
	return false
}

func (b *Board) parseEthernet(t *tree, gic *dt.Node) {
	t.root.Walk(func(n *dt.Node) error {
		if base, _, _ := strings.Cut(n.Name, "@"); base != "ethernet" {
			return nil
		}
		rs, err := t.mmio(n)
		if err != nil || len(rs) == 0 {
			return nil
		}
		e := Ethernet{Path: t.path(n), Compatible: compatibles(n), Reg: rs[0], PHY: -1, Enabled: available(n)}
		e.SPIs = t.spis(n, gic)
		for _, name := range []string{"mac-address", "local-mac-address"} {
			if p, ok := n.LookProperty(name); ok && len(p.Value) == 6 && p.Value[0]&1 == 0 && string(p.Value) != "\x00\x00\x00\x00\x00\x00" {
				e.MAC = append(net.HardwareAddr(nil), p.Value...)
				break
			}
		}
		for _, name := range []string{"phy-mode", "phy-connection-type"} {
			if s, ok := propString(n, name); ok {
				e.PHYMode = s
				break
			}
		}
		if p, ok := n.LookProperty("phy-handle"); ok && len(p.Value) == 4 {
			if phy := t.phandles[binary.BigEndian.Uint32(p.Value)]; phy != nil {
				if r, ok := phy.LookProperty("reg"); ok && len(r.Value) == 4 && binary.BigEndian.Uint32(r.Value) < 32 {
					e.PHY = int(binary.BigEndian.Uint32(r.Value))
				}
				for a := t.parent[phy]; a != nil; a = t.parent[a] {
					if a == n {
						e.PHYOnOwnBus = true
					}
				}
			}
		}
		b.Ethernet = append(b.Ethernet, e)
		return nil
	})
}

// spis returns n's interrupts as SPI numbers when its interrupt parent is
// the GIC and every specifier is an SPI; nil otherwise.
func (t *tree) spis(n, gic *dt.Node) []uint32 {
	p, ok := n.LookProperty("interrupts")
	if !ok {
		return nil
	}
	var ip *dt.Node
	for a := n; a != nil && ip == nil; a = t.parent[a] {
		if q, ok := a.LookProperty("interrupt-parent"); ok && len(q.Value) == 4 {
			ip = t.phandles[binary.BigEndian.Uint32(q.Value)]
			if ip == nil {
				return nil
			}
		}
	}
	if ip == nil {
		ip = t.parent[n]
	}
	if ip != gic {
		return nil
	}
	cells, err := t.cellCount(gic, "#interrupt-cells", 3)
	if err != nil || cells < 3 {
		return nil
	}
	size := int(cells) * 4
	if len(p.Value) == 0 || len(p.Value)%size != 0 {
		return nil
	}
	var out []uint32
	for spec := p.Value; len(spec) > 0; spec = spec[size:] {
		if binary.BigEndian.Uint32(spec) != 0 {
			return nil // a PPI
		}
		out = append(out, binary.BigEndian.Uint32(spec[4:]))
	}
	return out
}
