// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

// Doorbell wakes one goroutine from Ferry's interrupt paths: the goroutine
// Waits, and the scheduler's idle hook (on whichever M idles) or another
// goroutine Rings. It is a channel of one: a Ring that comes while nobody
// waits is kept for the next Wait, and a Ring is never lost whichever M
// or CPU it comes from (docs/decisions.md, "Go on every CPU": the
// runtime.Wake of a sleeping goroutine's timer it replaces was safe only
// with one M). Ring never blocks: the idle hook runs on an M's g0 with its
// P, where a non-blocking send is allowed.
type Doorbell struct{ c chan struct{} }

// NewDoorbell returns a doorbell that has not rung.
func NewDoorbell() *Doorbell { return &Doorbell{c: make(chan struct{}, 1)} }

// Wait sleeps until Ring, returning at once if it rang since the last
// Wait.
func (d *Doorbell) Wait() { <-d.c }

// Ring wakes the waiting goroutine, or the next one to Wait.
func (d *Doorbell) Ring() {
	select {
	case d.c <- struct{}{}:
	default:
	}
}
