// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package gic is Ferry's view of the GICv3 (ARM IHI 0069): the distributor
// and redistributor register map, the guest's interrupt state captured and
// restored for migration (State), and the Guard that sits on the pages the
// guest's GIC driver writes so that Ferry's own interrupts (its EL2 timer,
// PPI 26, its management NIC's SPI and the virtual interface's maintenance
// PPI) survive whatever the guest programs.
//
// The model is the one every ARM hypervisor uses on real firmware: Ferry's
// interrupts are Non-secure Group 1 like the guest's, and the Guard keeps
// every interrupt there, so the GIC may have two Security states (as TF-A
// leaves it) or one; the guest's CPU interface is the virtual one (package
// gic/vcpuif, whose state moves as a record of its own); the distributor
// and redistributor stay the guest's, behind the Guard, which keeps
// GICD_CTLR's Group 1 enable on. LPIs and the ITS are not handled: Ferry
// removes the ITS node from the guest's DTB, and Capture refuses a
// redistributor with LPIs enabled.
//
// Everything here works on the Regs interface and is tested on the host
// against Fake; only mmio_arm64.go touches the hardware. The package knows nothing about where the GIC sits on a
// board (the DTB says) or how the hypervisor traps pages (package mmio).
package gic
