// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"fmt"
	"slices"
	"strings"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/enet"
)

// FindENET picks Ferry's ENET among the board's Ethernet MACs: the node
// compatible with compatible (the board's choice of port), enabled, its
// interrupts GIC SPIs, its registers large enough, and its PHY -- if the
// DTB names one -- on its own MDIO bus: a PHY on another MAC's bus could
// only be reached through that MAC, which the guest drives.
func FindENET(eths []dtb.Ethernet, compatible string) (dtb.Ethernet, error) {
	i := slices.IndexFunc(eths, func(e dtb.Ethernet) bool { return e.Is(compatible) })
	if i < 0 {
		var have []string
		for _, e := range eths {
			have = append(have, fmt.Sprintf("%s (%s)", e.Path, strings.Join(e.Compatible, ", ")))
		}
		return dtb.Ethernet{}, fmt.Errorf("mgmt: no %s Ethernet node for the management network (the board has %v)", compatible, have)
	}
	e := eths[i]
	switch {
	case !e.Enabled:
		return e, fmt.Errorf("mgmt: %s is disabled in the DTB: the boot loader did not set the port up", e.Path)
	case len(e.SPIs) == 0:
		return e, fmt.Errorf("mgmt: %s: its interrupts are not GIC SPIs Ferry can take", e.Path)
	case e.Reg.Size < enet.RegsSize:
		return e, fmt.Errorf("mgmt: %s: register window %v is smaller than %#x bytes", e.Path, e.Reg, enet.RegsSize)
	case e.PHY >= 0 && !e.PHYOnOwnBus:
		return e, fmt.Errorf("mgmt: %s: its PHY (MDIO address %d) is on another MAC's MDIO bus, which the guest drives", e.Path, e.PHY)
	}
	return e, nil
}

// enetOptions are the driver's options for e under cfg: the MAC address
// from ferry.mac=, else the DTB's (a boot loader fills it in), else the
// driver's own choice; the PHY and its mode from the DTB.
func enetOptions(cfg Config, e dtb.Ethernet) (enet.Options, error) {
	mac, mtu, err := cfg.checkMTU(enet.MTU)
	if err != nil {
		return enet.Options{}, err
	}
	if mtu > enet.MTU {
		return enet.Options{}, fmt.Errorf("mgmt: MTU %d: the ENET carries at most %d (no jumbo frames)", mtu, enet.MTU)
	}
	if mac == nil {
		mac = e.MAC
	}
	return enet.Options{MTU: mtu, MAC: mac, PHY: e.PHY, PHYMode: e.PHYMode}, nil
}

// NICOf is e as the machine description needs it: its interrupt is its
// first (on the i.MX8M Plus, ring 0's frame events and the MAC's other
// events; the others are rings 1 and 2, unused, and the 1588 timer).
func NICOf(e dtb.Ethernet) NIC { return NIC{Path: e.Path, Reg: e.Reg, SPI: e.SPIs[0]} }
