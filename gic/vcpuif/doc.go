// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package vcpuif is Ferry's policy for the GICv3 virtual CPU interface (ARM
// IHI 0069, chapter 12, the ICH_*_EL2 registers): how the guest's interrupts
// reach it through the list registers, and the interface's migratable state.
//
// Ferry takes every physical IRQ at EL2 (HCR_EL2.IMO = 1), acknowledges it,
// drops its priority (ICC_CTLR_EL1.EOImode = 1) and, for one of the guest's,
// calls VIF.Inject: the interrupt goes into a free list register with HW = 1
// and its physical INTID, so the guest's own deactivation ends the physical
// interrupt without another exit. Interrupts beyond the list registers wait
// in a queue ordered by priority, drained by VIF.Refill (before each guest
// entry, and on the underflow maintenance interrupt VIF.Maintenance asks
// for). The guest's SGIs (its trapped ICC_SGI1R_EL1 writes, DecodeSGI1R) are
// injected as purely virtual interrupts.
//
// Everything here works on the Regs interface and is tested on the host
// against Fake, a model of the list registers and of the guest acknowledging
// and ending interrupts; only the binding in package cpu/hyp touches the
// registers. The package does not know which interrupts are Ferry's (package
// gic's Owned), nor the distributor's state (package gic's State, which moves
// beside this package's State in a migration).
package vcpuif
