// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import "github.com/ferry-hv/ferry/cpu"

// psciSystemOff is PSCI SYSTEM_OFF (Arm DEN 0022 PSCI, 5.1): QEMU exits,
// TF-A turns a real board off (on the i.MX8M Plus through the SNVS and the
// PMIC).
const psciSystemOff = 0x84000008

// PowerOff asks the firmware, through an SMC, to turn the board off. It
// spins if the firmware returns, or at once if the board's DTB, once
// read, names no PSCI over SMC (firmware that has none makes SMC
// undefined).
func PowerOff() {
	if b := Board(); b == nil || b.PSCIMethod == "smc" {
		cpu.SMC([8]uint64{psciSystemOff})
	} else {
		print("ferry: no PSCI over SMC to power the board off with: halted\n")
	}
	for {
		cpu.WaitForInterrupt()
	}
}
