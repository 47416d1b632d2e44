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
// Ferry's machines use Owned.Group1, the model every ARM hypervisor uses
// on real firmware: Ferry's interrupts are Non-secure Group 1 like the
// guest's, the GIC may have two Security states, and the guest's CPU
// interface is the virtual one (package gic/vcpuif); the distributor and
// redistributor stay the guest's, behind the Guard, which keeps
// GICD_CTLR's Group 1 enable on. Without it (Group 0, DS = 1 only) the
// guest drives the physical CPU interface: HCR_EL2.IMO = 0, so its Group 1
// interrupts, ICC_IAR1/EOIR1, ICC_IGRPEN1 and ICC_AP1Rn are physical, and
// HCR_EL2.FMO = 1, so its Group 0 CPU-interface registers, ICC_PMR and
// ICC_CTLR are virtual (their state is ICH_VMCR_EL2). LPIs and the ITS are
// not handled: Ferry removes the ITS node from the guest's DTB, and Capture
// refuses a redistributor with LPIs enabled.
//
// Everything here works on the Regs and CPUIfaceRegs interfaces and is
// tested on the host against Fake and FakeCPU; only mmio_arm64.go touches
// the hardware. The package knows nothing about where the GIC sits on a
// board (the DTB says) or how the hypervisor traps pages (package mmio).
package gic
