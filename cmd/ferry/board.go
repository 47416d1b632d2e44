// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"time"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/mgmt"
	"github.com/ferry-hv/ferry/phys"
)

// boardAPI is what main needs of the board package the image is built for
// (board_virt.go, board_imx8mp.go; make image BOARD=...): its memory
// layout, the EL2 timer's interrupt, the firmware's DTB, and the few
// services only the board knows how to give.
type boardAPI struct {
	// RAMBase is the base of RAM and of Ferry's carve-out, GuestBase its
	// end: guest RAM is the board's above it.
	RAMBase, GuestBase uint64
	// ImageBase is the first byte of Ferry's image (the arm64 Image's
	// header), where it was linked and checked to run (entry_arm64.s).
	ImageBase uint64
	// X0 is x0 at entry (0 from QEMU's ELF loader), DTB where the
	// firmware's DTB was read.
	X0, DTB        func() uint64
	HypTimerINTID  uint32
	MaintINTID     uint32 // the GIC's virtual-interface maintenance PPI (hyp.Options.MaintINTID)
	Board          func() *dtb.Board
	FirmwareDTB    func() []byte
	PowerOff       func()
	Uptime         func() time.Duration
	UsesRNDR       func() bool
	WallClock      func() (now func() time.Time, ok bool)
	RTC            string // the real-time clock WallClock reads, for the log
	ConsoleDropped func() uint64
	// ManagementNIC brings the management network up on the board's NIC
	// (c without the NIC's own fields): QEMU's virtio-net, the i.MX8M
	// Plus's FEC.
	ManagementNIC func(b *dtb.Board, c mgmt.Config) (*mgmt.Net, error)
	// GuestArgs are added to the guest's command line when Ferry has a
	// management network: what the guest's kernel must do to leave
	// Ferry's NIC alone ("" for nothing).
	GuestArgs string
	// RelayDMA is the board's memory for the shadow rings of the bus
	// masters Ferry relays (hyp.Options.RelayDMA; the i.MX8M Plus's EQOS):
	// none on QEMU's board.
	RelayDMA phys.Range
}
