// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"math"
	"runtime"
	"time"
)

// Doorbell wakes one goroutine from Ferry's interrupt paths: the goroutine
// Waits, and the FIQ handler (on the vCPU goroutine) or the scheduler's
// idle hook Rings. It is TamaGo's own mechanism (arm64.ServiceInterrupts):
// the waiter sleeps on its goroutine's cached time.Sleep timer, and
// runtime.Wake makes that timer due at once, so the scheduler runs the
// waiter next time it looks at its timers. Ferry runs Go on one CPU and
// TamaGo never preempts, so nothing can Ring between a Wait's look at the
// bell and its sleep: a Ring is never lost, and one that comes while
// nobody waits is kept for the next Wait.
type Doorbell struct {
	g    uint // the waiting goroutine (runtime.GetG), 0 when none waits
	rung bool
}

// Wait sleeps until Ring, returning at once if it rang since the last
// Wait.
func (d *Doorbell) Wait() {
	if !d.rung {
		d.g, _ = runtime.GetG()
		time.Sleep(math.MaxInt64)
		d.g = 0
	}
	d.rung = false
}

// Ring wakes the waiting goroutine, or the next one to Wait.
func (d *Doorbell) Ring() {
	d.rung = true
	if d.g != 0 {
		runtime.Wake(d.g)
	}
}
