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
// spins if the firmware returns.
func PowerOff() {
	cpu.SMC([8]uint64{psciSystemOff})
	for {
		cpu.WaitForInterrupt()
	}
}
