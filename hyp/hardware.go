// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import "github.com/ferry-hv/ferry/cpu"

// Hardware is every operation the machine's run-time policy performs on
// the CPU and its GIC interface: the run loop, idle and slices, interrupt
// injection, dirty tracking and the migration's source and sink steps
// (machine.go, irq.go, track.go, migrate.go) are plain Go over it, tested
// on the host over a fake (hardware_test.go); hardware_arm64.go binds it
// to the registers. The guest's list registers are the other binding
// (vcpuif.Regs, vif_arm64.go), the GIC's distributor and redistributor a
// third (gic.Regs).
//
// Times are Nanotime's: nanoseconds on the CPU's counter.
type Hardware interface {
	// Now is the time (CNTPCT_EL0 in nanoseconds; the Go runtime's clock).
	Now() int64
	// SetTimer arms the EL2 physical timer (CNTHP) to fire at at; 0 turns
	// it off (its interrupt, a level, drops).
	SetTimer(at int64)
	// WaitForInterrupt executes WFI at EL2: until a physical interrupt.
	WaitForInterrupt()
	// WaitForEvent executes WFE at EL2: until an event (another CPU's
	// SEV, the event stream) or sooner.
	WaitForEvent()
	// Enter runs the guest from c until its next exit, and returns the
	// exit's kind (cpu.ExitSync, cpu.ExitIRQ...), c holding its state.
	Enter(c *cpu.Context) uint64

	// Ack acknowledges the highest-priority pending Group 1 interrupt
	// (ICC_IAR1_EL1): its INTID, or a special INTID (1020-1023) when none
	// is pending.
	Ack() uint32
	// Drop is the priority drop of an acknowledged interrupt
	// (ICC_EOIR1_EL1 with EOImode 1).
	Drop(intid uint32)
	// Deactivate deactivates an interrupt (ICC_DIR_EL1).
	Deactivate(intid uint32)
	// Pending reports a physical Group 1 interrupt pending at the CPU
	// interface (ICC_HPPIR1_EL1 holds a real INTID).
	Pending() bool

	// TrapWFI sets or clears HCR_EL2.TWI: the guest's WFI traps to EL2.
	TrapWFI(on bool)
	// GuestTimers are the guest's virtual and physical EL1 timers
	// (CNTV_CTL_EL0 and its compare value less CNTVOFF_EL2, CNTP_CTL_EL0
	// and CNTP_CVAL_EL0), their compare values as times.
	GuestTimers() [2]GuestTimer
	// StopGuestTimers turns both off (CNTV_CTL_EL0 = CNTP_CTL_EL0 = 0).
	StopGuestTimers()

	// FlushStage2 invalidates every stage-1 and stage-2 TLB entry of the
	// guest after its stage-2 tables changed.
	FlushStage2()
	// InvalidateIPA invalidates the stage-2 TLB entries for ipa (mmu.TLB:
	// the stage-2 tables' break-before-make).
	InvalidateIPA(ipa uint64, level int)
	// InvalidateGuestPage makes a change to the page at ipa visible to
	// the guest at once: its stage-2 entries and all the guest's combined
	// ones.
	InvalidateGuestPage(ipa uint64)
	// InvalidateGuestWrite is InvalidateGuestPage's cheap form after a
	// write at virtual address va made the page at ipa writable: the
	// guest's entries for va alone.
	InvalidateGuestWrite(ipa, va uint64)
	// CleanDcache cleans [pa, pa+size) to the point of coherency.
	CleanDcache(pa, size uint64)
	// InvalidateIcache invalidates the instruction caches to the point of
	// unification.
	InvalidateIcache()

	// RAM is the n bytes of physical memory at pa, in place (Ferry maps
	// guest RAM at EL2 with VA == PA); the caller keeps to guest RAM.
	RAM(pa, n uint64) []byte
}

// GuestTimer is one of the guest's EL1 timers: its control register
// (CNTx_CTL_EL0) and when its compare value is reached.
type GuestTimer struct {
	Ctl uint64
	At  int64
}

// Generic timer control bits (ARM ARM D24.8, CNTV_CTL_EL0 / CNTP_CTL_EL0).
const (
	timerEnable = 1 << 0
	timerIMask  = 1 << 1
)

// fires reports whether the timer is enabled and its interrupt unmasked.
func (t GuestTimer) fires() bool { return t.Ctl&(timerEnable|timerIMask) == timerEnable }
