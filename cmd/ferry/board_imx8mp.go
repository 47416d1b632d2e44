// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64 && imx8mp

package main

import (
	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/boot/imx8mp"
	"github.com/ferry-hv/ferry/net/mgmt"
	"github.com/ferry-hv/ferry/phys"
)

// board is an NXP i.MX8M Plus board (make image BOARD=imx8mp).
var board = boardAPI{
	RAMBase: imx8mp.RAMBase, GuestBase: imx8mp.GuestBase, ImageBase: imx8mp.ImageBase, X0: el2.X0, DTB: el2.DTB, HypTimerINTID: imx8mp.HypTimerINTID, MaintINTID: imx8mp.MaintINTID,
	Board: el2.Board, FirmwareDTB: el2.FirmwareDTB, PowerOff: el2.PowerOff, Uptime: el2.Uptime,
	UsesRNDR: el2.UsesRNDR, WallClock: imx8mp.WallClock, ConsoleDropped: el2.ConsoleDropped,
	RTC: "SNVS", ManagementNIC: fecNIC, GuestArgs: imx8mp.GuestArgs,
	RelayDMA: phys.Range{Base: imx8mp.RelayBase, Size: imx8mp.RelaySize},
}

// fecNIC is the management network on the FEC (package enet), its rings in
// its part of the board's Non-cacheable DMA window.
func fecNIC(b *dtb.Board, c mgmt.Config) (*mgmt.Net, error) {
	e, err := mgmt.FindENET(b.Ethernet, imx8mp.FECCompatible)
	if err != nil {
		return nil, err
	}
	return mgmt.UpENET(c, e, phys.Range{Base: imx8mp.DMABase, Size: imx8mp.ENETSize})
}
