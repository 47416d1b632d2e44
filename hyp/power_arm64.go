// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
)

// power carries out the guest's system power call p (carryOut, power.go)
// on this CPU.
func (m *Machine) power(p *PowerRequest) error { return m.carryOut(p, m.resetCPU) }

// resetCPU gives the guest's CPU its power-on state (powerOn, restart.go)
// and points it at the kernel of the boot l (Boot).
func (m *Machine) resetCPU(l *guest.Layout) error {
	if err := cpu.Restore(powerOn(cpu.Capture(&m.VCPU.Ctx)), &m.VCPU.Ctx); err != nil {
		return err
	}
	m.Boot(l)
	return nil
}
