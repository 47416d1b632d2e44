// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

// Ferry's management NIC on this board: the ENET (FEC, ENET1) -- the
// block TamaGo and U-Boot drive with legacy descriptors, package enet's --
// leaving the EQOS, the port with the TSN features, to the guest
// (docs/decisions.md, "The i.MX8M Plus management NIC"). The EVK's DTB has
// it at 0x30be0000, its PHY (a Realtek RTL8211F) at MDIO address 1 on its
// own MDIO bus.
//
// Ferry takes the port as U-Boot left it: clocks, pin mux, the IOMUXC
// GPR bits and the PHY's reset line and RGMII delays set up, as they are
// when U-Boot used the port (a dhcp, tftp or ping on it before booti).
const FECCompatible = "fsl,imx8mp-fec"

// The ENET's DMA window: its descriptor rings and frame buffers, the top
// 2 MiB of the carve-out, outside the Go runtime's memory (which is the
// carve-out below it: RuntimeSize) and mapped Normal Non-cacheable at EL2
// (el2.EnableMMU): the i.MX8M Plus ENET does not snoop the CPU's
// caches. The guest never maps it (it is carve-out).
// GuestArgs go on the guest's command line when the FEC is Ferry's: the
// guest keeps the clock controller (CCM), and Linux turns off, at the end
// of its boot, every clock no driver holds (clk_disable_unused) -- with the
// FEC's node gone, every clock of Ferry's NIC.
const GuestArgs = "clk_ignore_unused"

const (
	DMASize     = 2 << 20
	DMABase     = GuestBase - DMASize
	RuntimeSize = CarveOutSize - DMASize

	// The top of the DMA window holds the shadow rings of the guest's
	// EQOS (package mmio/eqos, eqos.ShadowSize: 32 KiB), which does not
	// snoop the caches either: RelayBase, RelaySize (hyp.Options.RelayDMA).
	// The ENET's rings and buffers take the rest, ENETSize from DMABase.
	RelaySize = 64 << 10
	RelayBase = GuestBase - RelaySize
	ENETSize  = DMASize - RelaySize
)
