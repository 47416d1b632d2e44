// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"

	"github.com/ferry-hv/ferry/gic"
)

// discarder forgets an incoming machine that will not run here: one that
// failed, was refused or aborted (by its source or the operator) before
// it was resumed, whatever of it Restore had loaded into the hardware.
// The board is then as it was waiting for a guest:
//
//   - each guest NIC's device is reset and its model forgets the driver's
//     set-up (virtiommio.Transport.Reset: no DMA into the RAM of a guest
//     that is not here, the shadow rings dropped for the collector); each
//     relayed EQOS's DMA is stopped and its relay's rings forgotten
//     (eqos.Model.Reset);
//   - the guest's timers are turned off and its virtual CPU interface
//     emptied, each interrupt Ferry acknowledged for it ended
//     (stateHW.quiesce), so nothing of it wakes Ferry's idle;
//   - the GIC's guest part goes back to the state it had before any guest
//     (blank, captured when the machine was assembled): the guest's
//     interrupts disabled, none pending or active, the distributor's
//     Group 1 off as the guest sees it (it stays on for Ferry's own),
//     Ferry's own bits as they are.
//
// The pages it wrote stay marked written (Machine.written), so a later
// guest's zero pages clear them.
type discarder struct {
	guestNICs []GuestNIC
	eqos      []GuestEQOS
	guard     *gic.Guard
	blank     *gic.State // the GIC's guest part with no guest
	hw        stateHW
}

// newDiscarder captures the GIC with no guest on it, for discard.
func newDiscarder(a *assembly, hw stateHW) (*discarder, error) {
	blank, err := a.guard.Capture()
	if err != nil {
		return nil, fmt.Errorf("the GIC with no guest: %w", err)
	}
	return &discarder{guestNICs: a.guestNICs, eqos: a.eqos, guard: a.guard, blank: blank, hw: hw}, nil
}

// discard makes the board as it was waiting for a guest (see discarder).
// What fails is logged; the rest is done all the same.
func (d *discarder) discard() {
	for _, n := range d.guestNICs {
		if err := n.Transport.Reset(); err != nil {
			d.logf("guest NIC at %#x: resetting its device: %v", n.Base, err)
		}
	}
	for _, n := range d.eqos {
		n.Model.Reset()
	}
	if d.hw.quiesce != nil {
		d.hw.quiesce()
	}
	if err := d.guard.Restore(d.blank); err != nil {
		d.logf("discarding the incoming guest's GIC state: %v", err)
	}
}

func (d *discarder) logf(format string, args ...any) {
	if d.hw.log != nil {
		d.hw.log(fmt.Sprintf(format, args...))
	}
}
