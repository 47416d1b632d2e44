// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"sync"
	"sync/atomic"
	"time"
)

// Cause is why the guest exited to Ferry, as counted for the management
// API's status (api.Status.ExitCauses).
type Cause int

// Exit causes. Interrupt exits (irq.go) are Ferry's own interrupts -- its
// EL2 timer (armed only for its deadlines), its management NIC --, the
// guest's interrupts, the virtual CPU interface's maintenance interrupt,
// or none of them (spurious); the rest are the guest's traps.
const (
	CauseTimer    Cause = iota // Ferry's EL2 timer: a Go timer, a netstack retransmission, a migration's slice
	CauseMgmtNIC               // the management NIC's interrupt
	CauseSpurious              // an interrupt exit with nothing pending
	CauseIRQ                   // the guest's interrupt, taken at EL2 and listed for it (the virtual CPU interface)
	CauseMaint                 // the virtual CPU interface's maintenance interrupt: list registers refilled
	CauseMMIO                  // a trapped device page (the GIC guard, the guest NIC's model, a page shared with a device Ferry keeps)
	CauseDirty                 // a dirty-tracking fault during a migration
	CauseSMC                   // PSCI
	CauseSysReg                // a trapped system register: a forwarded write (SGIs), an ID register read (TID3)
	CauseWFI                   // a WFI trapped during a migration
	CauseHVC                   // a hypercall
	CauseOther                 // anything else (it stops the guest)
	CauseKick                  // another of Ferry's CPUs woke this one (its kick SGI)
	numCauses
)

var causeNames = [numCauses]string{"timer", "mgmt-nic", "spurious", "irq", "maint", "mmio", "dirty", "smc", "sysreg", "wfi", "hvc", "other", "kick"}

func (c Cause) String() string { return causeNames[c] }

// exitCounts counts exits by cause, and the time Ferry took to handle
// them; Counts and Times may be read from any goroutine.
type exitCounts struct {
	n, ns [numCauses]atomic.Uint64
	last  Cause // the cause of the latest exit (the vCPU's goroutine only)
}

func (e *exitCounts) add(c Cause) { e.n[c].Add(1); e.last = c }

// took adds the time the latest exit took to handle to its cause's.
func (e *exitCounts) took(ns int64) {
	if ns > 0 {
		e.ns[e.last].Add(uint64(ns))
	}
}

// Counts returns the exits so far by cause name; causes with none are
// left out.
func (e *exitCounts) Counts() map[string]uint64 { return nonZero(&e.n) }

// Times returns the nanoseconds spent handling those exits by cause name.
func (e *exitCounts) Times() map[string]uint64 { return nonZero(&e.ns) }

func nonZero(a *[numCauses]atomic.Uint64) map[string]uint64 {
	m := map[string]uint64{}
	for c := range numCauses {
		if n := a[c].Load(); n > 0 {
			m[c.String()] = n
		}
	}
	return m
}

// ExitMeter turns cumulative counts into rates per second: each call of
// Rates measures from the sample it keeps, and replaces that sample once
// it is at least Window old, so callers that ask at least Window apart see
// the rate between their calls, and the first call the rate since boot.
type ExitMeter struct {
	Window time.Duration

	mu   sync.Mutex
	at   time.Duration
	base map[string]uint64
}

// Rates are the exits per second by cause between the kept sample and
// now (the board's uptime, when counts was read), and the interval.
func (e *ExitMeter) Rates(now time.Duration, counts map[string]uint64) (map[string]float64, time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	dt := now - e.at
	rates := map[string]float64{}
	if dt > 0 {
		for k, n := range counts {
			if d := n - e.base[k]; n >= e.base[k] && d > 0 {
				rates[k] = float64(d) / dt.Seconds()
			}
		}
	}
	if dt >= e.Window {
		e.at, e.base = now, counts
	}
	return rates, dt
}
