// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"context"
	"errors"
	"testing"
	"time"
)

// vcpu simulates the vCPU goroutine: it runs "exits" and passes the
// checkpoint between them until the guest is given up.
func vcpu(c *Control, exits chan<- int, done chan<- struct{}) {
	for n := 0; ; n++ {
		if !c.Checkpoint() {
			close(done)
			return
		}
		select {
		case exits <- n:
		default:
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPauseResumeGiveUp(t *testing.T) {
	c := NewControl(GuestRunning)
	exits, done := make(chan int, 1), make(chan struct{})
	go vcpu(c, exits, done)
	ctx := context.Background()
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	if c.State() != GuestPaused {
		t.Fatalf("state %s", c.State())
	}
	select { // drop an exit that happened before the pause
	case <-exits:
	default:
	}
	select {
	case <-exits:
		t.Fatal("the guest ran while paused")
	case <-time.After(20 * time.Millisecond):
	}
	c.Resume()
	select {
	case <-exits:
	case <-time.After(time.Second):
		t.Fatal("the guest did not run after Resume")
	}
	if err := c.Pause(ctx); err != nil {
		t.Fatal(err)
	}
	c.GiveUp()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("the vCPU did not park after GiveUp")
	}
	if c.State() != GuestMigrated {
		t.Fatalf("state %s", c.State())
	}
	if err := c.Pause(ctx); !errors.Is(err, ErrNoGuest) {
		t.Fatalf("pausing a migrated guest: %v", err)
	}
}

func TestPauseTimesOut(t *testing.T) {
	c := NewControl(GuestRunning) // no vCPU goroutine answers
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if err := c.Pause(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("%v", err)
	}
}

func TestWaitForGuest(t *testing.T) {
	c := NewControl(GuestNone)
	if err := c.Pause(context.Background()); !errors.Is(err, ErrNoGuest) {
		t.Fatalf("pausing with no guest: %v", err)
	}
	go c.Start()
	c.WaitForGuest()
	if c.State() != GuestRunning {
		t.Fatalf("state %s", c.State())
	}
}

// A pause asked while the vCPU goroutine rests (Ferry's migration slice)
// stops the guest at once, not when the rest is over, and the guest never
// runs before the resume.
func TestPauseDuringRest(t *testing.T) {
	c := NewControl(GuestRunning)
	entered := make(chan struct{}, 16)
	go func() {
		for c.Checkpoint() {
			entered <- struct{}{} // "the guest runs"
			c.Rest(time.Hour)
		}
	}()
	<-entered
	start := time.Now()
	if err := c.Pause(context.Background()); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el > 5*time.Second {
		t.Fatalf("pause took %v: it waited for the rest to end", el)
	}
	if c.State() != GuestPaused {
		t.Fatalf("state %s", c.State())
	}
	select {
	case <-entered:
		t.Fatal("the guest ran while paused")
	case <-time.After(20 * time.Millisecond):
	}
	c.Resume()
	select {
	case <-entered:
	case <-time.After(time.Second):
		t.Fatal("the guest did not run after Resume")
	}
}
