// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package eqos is Ferry's relay for the guest's Synopsys DWC Ethernet QoS
// (EQOS, 5.10a) on the NXP i.MX8M Plus (`nxp,imx8mp-dwmac-eqos`, Linux's
// stmmac driver): the port the guest gets, passed through but for its
// DMA. The SoC has no IOMMU, so a guest that programmed the device's
// descriptor rings itself could point it at Ferry's carve-out, and what
// the device wrote during a migration's pre-copy would not be tracked.
// Instead the page of the block that holds the DMA registers traps to
// Model, which runs the device on shadow rings in Ferry's memory, as
// package mmio/virtq does for the guest's virtio-net on QEMU: every
// descriptor the guest gives the device is copied, its buffers checked
// against guest RAM, before the device can see it; the device's
// write-backs are copied back, and what it wrote into guest RAM reported.
//
// What it takes: DMA channel 0 (one transmit and one receive queue: the
// guest's DTB says so, and the other channels take no write), normal
// 16-byte descriptors as Linux's stmmac writes them (dwmac4_descs.c), in
// either address mode (EAME: 40-bit addresses in the descriptors' second
// words). It works on the device's registers (an mmio.Device) and two
// Mems, and is pure logic, host-tested against package fakeeqos, a model
// of the EQOS DMA written from the databook.
//
// Not done: migrating the relay's state (the destination's device would
// need the guest's MAC and MTL set-up too, and its rings at the guest's
// positions); a pause stops the device's DMA (Stop) and the destination
// starts with the device reset, which the guest's driver sets up again
// (docs/decisions.md, "The guest's EQOS: shadow rings").
package eqos
