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
// tests drive it with synthetic syndromes) and Control (pausing and resuming the guest between exits,
// plain Go), and so is Share, the policy that bounds Ferry's share of the
// CPU outside a migration. The _arm64.go files touch the hardware: the Machine (EL2
// controls, Ferry's interrupts, the idle hook, the run loop, dirty
// tracking) and the machine as a migration source and sink.
package hyp
