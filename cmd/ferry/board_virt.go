// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64 && !imx8mp

package main

import (
	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/boot/virt"
	"github.com/ferry-hv/ferry/net/mgmt"
)

// board is QEMU's virt board (the default; make image).
var board = boardAPI{
	RAMBase: virt.RAMBase, GuestBase: virt.GuestBase, ImageBase: virt.ImageBase, X0: el2.X0, DTB: el2.DTB, HypTimerINTID: virt.HypTimerINTID, MaintINTID: virt.MaintINTID,
	Board: el2.Board, FirmwareDTB: el2.FirmwareDTB, PowerOff: el2.PowerOff, Uptime: el2.Uptime,
	UsesRNDR: el2.UsesRNDR, WallClock: virt.WallClock, ConsoleDropped: el2.ConsoleDropped,
	RTC: "PL031", ManagementNIC: virtioNIC,
}

// virtioNIC is the management network on a virtio-net device of the
// board's virtio-mmio transports (ferry.mac= picks which).
func virtioNIC(b *dtb.Board, c mgmt.Config) (*mgmt.Net, error) {
	c.Transports = b.Virtio
	return mgmt.Up(c)
}
