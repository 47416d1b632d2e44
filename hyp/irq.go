// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"github.com/ferry-hv/ferry/gic/vcpuif"
)

// The interrupt path with the virtual CPU interface (docs/decisions.md,
// "Interrupts through the GIC's virtual CPU interface"): with HCR_EL2.IMO
// set every physical IRQ is taken at EL2, from the guest (an exit) or in
// Ferry's idle WFI. Each is acknowledged and its priority dropped at once
// (ICC_CTLR_EL1.EOImode = 1), so the physical running priority is Ferry's
// again before the guest runs; Ferry's own (its EL2 timer, its management
// NIC, the maintenance interrupt) are handled and deactivated here, the
// guest's listed HW-linked for the guest, whose deactivation ends them.

// physIface is the physical CPU interface's Group 1 operations at EL2.
type physIface interface {
	Ack() uint32          // ICC_IAR1_EL1: the INTID, or 1020-1023 when none is pending
	Drop(intid uint32)    // ICC_EOIR1_EL1: the priority drop (EOImode 1)
	Deactivate(id uint32) // ICC_DIR_EL1
}

// maxAcks bounds one pass over the pending interrupts: each of the guest's
// stays active until the guest ends it, so at most one per INTID is
// pending anyway; the bound keeps a broken GIC from holding the CPU.
const maxAcks = 32

// firstSpecial is the first special INTID (IHI 0069 2.2.1): from 1020,
// ICC_IAR1_EL1 reports that nothing (of Group 1) is pending.
const firstSpecial = 1020

// irqPath takes the physical interrupts.
type irqPath struct {
	phys physIface
	vif  *vcpuif.VIF
	// priority is the guest's priority for its INTID (its
	// GICD/GICR_IPRIORITYR<n> byte).
	priority func(intid uint32) uint8
	// Ferry's INTIDs: its EL2 timer's PPI, its management NIC's SPI (0:
	// none), the maintenance PPI and the kick SGI from its other CPUs (0:
	// none).
	tick, mgmtNIC, maint, kick uint32
	onTick, onMgmtNIC          func() // remove the cause of a level (nil: nothing to do)
	// enabled reports whether the guest enabled its INTID (for its SGIs:
	// GICR_ISENABLER0, which the guest programs behind the Guard).
	enabled func(intid uint32) bool

	fired bool // the last take included the EL2 timer's interrupt
}

// take acknowledges what is pending and reports the exit's cause: the management NIC
// over the timer over the guest's over the maintenance interrupt;
// CauseSpurious when nothing was. It stops at the first of the guest's
// interrupts it lists: Ferry's come first (higher priority), and one of
// the guest's still pending is taken at once on the next entry -- which
// is rarer than the IAR read that would look for it on every exit, an
// access QEMU's TCG serves under its big lock (docs/bench/README.md).
func (p *irqPath) take() Cause {
	c := CauseSpurious
	p.fired = false
	for range maxAcks {
		id := p.phys.Ack()
		if id >= firstSpecial {
			break
		}
		p.phys.Drop(id)
		switch {
		case id == p.tick:
			if p.onTick != nil {
				p.onTick()
			}
			p.fired = true
			if c != CauseMgmtNIC {
				c = CauseTimer
			}
		case id == p.mgmtNIC && id != 0:
			if p.onMgmtNIC != nil {
				p.onMgmtNIC()
			}
			c = CauseMgmtNIC
		case id == p.kick && id != 0:
			// Another CPU woke this one: Ferry's goroutines have work
			// here (a thread the runtime placed or woke, a preemption
			// request) and run before the guest goes on.
			if c == CauseSpurious || c == CauseMaint || c == CauseIRQ {
				c = CauseKick
			}
		case id == p.maint:
			p.vif.Maintenance()
			if c == CauseSpurious {
				c = CauseMaint
			}
		default:
			// The guest's: listed HW-linked, it stays active until the
			// guest ends it. One that cannot be linked -- an SGI (the
			// guest's are virtual: a physical one is not its) or an
			// INTID the interface refuses -- is ended here, never left
			// active.
			hw := id >= vcpuif.FirstPPI
			out := p.vif.Inject(vcpuif.IRQ{INTID: id, Priority: p.priority(id), HW: hw})
			if out != vcpuif.Refused && (c == CauseSpurious || c == CauseMaint) {
				c = CauseIRQ
			}
			if hw && out != vcpuif.Refused {
				return c
			}
		}
		p.phys.Deactivate(id)
	}
	return c
}

// sgi takes the guest's trapped ICC_SGI1R_EL1 (or ICC_ASGI1R_EL1) write v
// from its vCPU, whose MPIDR_EL1 is mpidr: an SGI it sends itself, if it
// enabled it, is listed for it as a virtual interrupt at the priority it
// gave it (no physical SGI is raised); one for any other PE goes nowhere,
// as the guest has no other. It reports whether one was listed or queued.
func (p *irqPath) sgi(v, mpidr uint64) bool {
	id, self := vcpuif.DecodeSGI1R(v, mpidr)
	if !self || !p.enabled(id) {
		return false
	}
	out := p.vif.Inject(vcpuif.IRQ{INTID: id, Priority: p.priority(id)})
	return out != vcpuif.Refused
}
