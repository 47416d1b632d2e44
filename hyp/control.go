// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// GuestState is where the guest is in its life on this board.
type GuestState uint8

const (
	GuestNone     GuestState = iota // no guest here (receive role, nothing arrived yet)
	GuestRunning                    // running
	GuestPaused                     // stopped for a migration
	GuestMigrated                   // handed to another board; this board has none and may take one
	GuestStopped                    // halted after an error
	GuestOff                        // powered itself off (PSCI SYSTEM_OFF): power.go
)

func (s GuestState) String() string {
	switch s {
	case GuestNone:
		return "none"
	case GuestRunning:
		return "running"
	case GuestPaused:
		return "paused"
	case GuestMigrated:
		return "migrated"
	case GuestStopped:
		return "stopped"
	case GuestOff:
		return "off"
	}
	return fmt.Sprintf("GuestState(%d)", uint8(s))
}

// Control is how other goroutines stop and start the guest. The vCPU
// goroutine owns the CPU while the guest runs; it looks at Control between
// two exits -- a request comes from one of Ferry's goroutines, which ran
// because an interrupt of Ferry's took the CPU back, and the vCPU looks
// again before it re-enters the guest -- and parks itself there when asked. Nothing here touches the hardware.
type Control struct {
	mu    sync.Mutex
	state GuestState
	why   string // the error a stopped guest stopped with
	req   chan chan struct{}
	next  chan bool // true: resume, false: give the guest up
	start chan struct{}

	pending chan struct{} // a pause Rest took, for the next Checkpoint

	power PowerLog // what the guest did with its power here (power.go)
}

// NewControl returns a Control for a guest in the given state (running, or
// none for a board that waits for one).
func NewControl(state GuestState) *Control {
	return &Control{state: state, req: make(chan chan struct{}), next: make(chan bool, 1), start: make(chan struct{}, 1)}
}

// State is the guest's state.
func (c *Control) State() GuestState {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state
}

func (c *Control) set(s GuestState) {
	c.mu.Lock()
	c.state = s
	c.mu.Unlock()
}

// ErrNoGuest is returned by Pause when there is no running guest.
var ErrNoGuest = errors.New("no running guest on this board")

// Pause stops the guest at its next exit and returns once it is stopped.
func (c *Control) Pause(ctx context.Context) error {
	if s := c.State(); s != GuestRunning {
		return fmt.Errorf("%w (guest is %s)", ErrNoGuest, s)
	}
	ack := make(chan struct{})
	select {
	case c.req <- ack:
	case <-ctx.Done():
		return fmt.Errorf("pausing the guest: %w", ctx.Err())
	}
	<-ack // the vCPU goroutine answers at once
	return nil
}

// Resume lets a paused guest run again.
func (c *Control) Resume() { c.next <- true }

// GiveUp parks a paused guest for good: it now runs elsewhere.
func (c *Control) GiveUp() { c.next <- false }

// Start releases the vCPU goroutine of a board that waited for a guest,
// once one has been restored here.
func (c *Control) Start() { c.start <- struct{}{} }

// WaitForGuest blocks the vCPU goroutine until Start.
func (c *Control) WaitForGuest() {
	<-c.start
	c.set(GuestRunning)
}

// Rest is called by the vCPU goroutine to lend the CPU to Ferry's other
// goroutines for d while the guest runs (a migration's slice): it sleeps,
// and wakes at once if Pause asks for the guest, whose next Checkpoint then
// stops it without ever entering it again.
func (c *Control) Rest(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case ack := <-c.req:
		c.pending = ack
	case <-t.C:
	}
}

// Checkpoint is called by the vCPU goroutine between exits. It returns
// false when the guest was given up and must never run here again.
func (c *Control) Checkpoint() bool {
	ack := c.pending
	c.pending = nil
	if ack == nil {
		select {
		case ack = <-c.req:
		default:
			return true
		}
	}
	c.set(GuestPaused)
	close(ack)
	if !<-c.next {
		c.set(GuestMigrated)
		return false
	}
	c.set(GuestRunning)
	return true
}

// Stop records that the guest stopped after err.
func (c *Control) Stop(err error) {
	c.mu.Lock()
	c.state, c.why = GuestStopped, err.Error()
	c.mu.Unlock()
}

// Why is the error the guest stopped with ("" unless stopped).
func (c *Control) Why() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.why
}
