// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import "runtime"

// MgmtLink is Ferry's management NIC as its poller drives it (mgmt.Net).
type MgmtLink interface {
	// Poll does one round of the NIC's work without blocking and reports
	// whether anything moved.
	Poll() bool
	// Arm lets the NIC interrupt again once Poll has nothing to do; true
	// means work arrived meanwhile (poll again instead of sleeping).
	Arm() bool
	// Interrupt takes the NIC's interrupt at the device and reports
	// whether it was the NIC's.
	Interrupt() bool
}

// ServeMgmtNIC makes link Ferry's management NIC: its interrupt, taken on
// the vCPU goroutine or in the idle hook (OnMgmtNIC), wakes the poller,
// which it returns. The poller never returns: run it in a goroutine of its
// own. It moves the NIC's frames while there are any, then sleeps until
// the NIC's interrupt, so a quiet link costs no CPU; between two rounds it
// lets the guest have its slice once Ferry has used its share of the CPU
// (Yield), so that a flood of frames cannot starve the guest.
func (m *Machine) ServeMgmtNIC(link MgmtLink) (poll func()) {
	m.OnMgmtNIC = func() {
		if link.Interrupt() {
			m.mgmtIRQ.Ring()
		}
	}
	return func() {
		for {
			if m.pollMgmtNIC(link) {
				m.mgmtIRQ.Wait()
			}
		}
	}
}

// pollMgmtNIC is one turn of the poller: every round of work there is,
// Yield and the Go scheduler between two, then the interrupt armed. It
// reports whether the poller sleeps until the next interrupt (false: work
// came in while it armed it).
func (m *Machine) pollMgmtNIC(link MgmtLink) (sleep bool) {
	for link.Poll() {
		m.Yield()
		runtime.Gosched()
	}
	return !link.Arm()
}
