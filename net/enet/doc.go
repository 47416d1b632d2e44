// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package enet is Ferry's driver for its management NIC on the NXP i.MX8M
// Plus: the ENET, NXP's 10/100/1000 Ethernet MAC (the "FEC" of Linux's
// drivers/net/ethernet/freescale/fec_main.c and of U-Boot's fec_mxc), and
// the PHY on its MDIO bus. Its Device is a link.Device: package link's
// gVisor stack.LinkEndpoint runs it, as it runs virtio-net on QEMU.
//
// It follows the i.MX 8M Plus Applications Processor Reference Manual
// (IMX8MPRM), chapter "Ethernet MAC (ENET)", cross-checked against Linux's
// fec driver, and IEEE 802.3 Clause 22 for the PHY's registers.
//
// What it does, and not:
//   - ring 0 only, legacy 8-byte descriptors (ECR.EN1588 clear,
//     little-endian with ECR.DBSWP), one buffer per frame (MRBR and FTRL
//     at 1536 bytes), MTU 1500, no jumbo frames, no offloads, no
//     multicast, no PAUSE;
//   - NAPI-style interrupts: Interrupt acknowledges RXF/TXF and masks
//     everything until the poller has drained the rings and Arms again;
//   - the PHY is read, never reset: the boot loader (U-Boot, when it used
//     the port) left its clocks, pins, reset line and RGMII delays set
//     up; a PHY found powered down is told to negotiate. Its link is
//     read at Open (bounded wait) and once a second when idle (Idle), and
//     the MAC is set up again for each new speed and duplex;
//   - hostile or broken ring states are dropped and counted, never
//     trusted: a length past its buffer, a frame spread over buffers, an
//     error bit, a descriptor given back out of turn, a transmit ring the
//     MAC holds (restarted after a check interval), a bus error (the
//     device stops).
//
// Layering, bottom up:
//
//	Regs, DMA   the register file and DMA memory (interfaces; Region allocates a window)
//	ring        a descriptor ring and its buffers, in DMA memory
//	Device      the MAC and PHY: Open, Transmit/Flush/Reclaim, Receive, Interrupt/Arm, Check
//
// Everything is plain Go over those two interfaces, tested on the host
// against a register model of the block (package fakeenet). The hardware
// binding -- 32-bit register accesses ordered as Linux's writel/readl,
// and a DMA window of Ferry's carve-out mapped Normal Non-cacheable at EL2
// (the ENET does not snoop the CPU's caches) -- is hw_arm64.go.
//
// TamaGo's soc/nxp/enet drives the same block and was not reused: see
// docs/decisions.md, "The i.MX8M Plus management NIC".
package enet
