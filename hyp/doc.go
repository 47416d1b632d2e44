// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package hyp is Ferry's hypervisor proper: the machine description, the
// registry of migratable components, the guest vCPU, the run loop (enter
// the guest, dispatch the exit, repeat), the trap table keyed by exception
// class, the guest's SMCs (PSCI and the SMCCC architecture calls), the
// guest's own power calls -- a SYSTEM_RESET restarts it on this board from
// its boot stash, a SYSTEM_OFF stops it, the board staying up (power.go,
// restart.go) -- and the exceptions Ferry gives the guest for its own
// faults (inject.go).
//
// Describe reads the board's DTB into one description of the machine the
// guest gets: each device's treatment (passed through, trapped, hidden,
// Ferry's own) and, derived from them, the stage-2 map, the guest's DTB
// patch, the MMIO bus and the interrupts Ferry keeps. assemble builds the
// machine's EL2 state from it over any hardware: the GIC, device pages and
// CPU on the board, fakes in the host tests. Registry is every migratable
// component with its versions, capture and restore.
//
// All of that is host-testable, as is dispatch (it works on a cpu.Context
// a firmware call function and the guest's EL1 registers as a value, so
// tests drive it with synthetic syndromes), Control (pausing and resuming
// the guest between exits) and the Machine's whole run-time policy: the
// run loop and Ferry's idle hook (machine.go), the interrupt path through
// the guest's virtual CPU interface (irq.go), Ferry's share of the CPU and
// a migration's slices (share.go, track.go), dirty tracking's bookkeeping
// (track.go) and the machine as a migration source and sink (migrate.go).
// They run over Hardware, the CPU's operations -- its clock and EL2
// timer, acknowledging and ending an interrupt, HCR_EL2.TWI, TLB and
// cache maintenance, entering the guest -- and the guest's list registers
// (vcpuif.Regs); the host tests give fakes (hardware_test.go). The
// _arm64.go files are the binding: those operations on the registers,
// NewMachine and the EL2 controls it programs (machine_arm64.go), the
// doorbell and the DMA allocator.
package hyp
