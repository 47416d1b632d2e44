// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package el2

import (
	"sync"
	"testing"
	"unsafe"

	"github.com/ferry-hv/ferry/gic/vcpuif"
)

// loadWord reads the semaphore at p: one of this file's.
func loadWord(p uintptr) uint32 {
	switch p {
	case uintptr(unsafe.Pointer(&sem)):
		return sem
	case uintptr(unsafe.Pointer(&zero)):
		return zero
	}
	panic("not a test semaphore")
}

// Semaphores of waiting threads: globals, as the runtime's are in its Ms
// (a uintptr to a stack variable would not follow the stack).
var sem, zero uint32 = 1, 0

func TestPick(t *testing.T) {
	waitOn := func(p *uint32, deadline int64) thread {
		return thread{state: threadWaiting, wait: uintptr(unsafe.Pointer(p)), deadline: deadline}
	}
	for _, tc := range []struct {
		name   string
		ts     []thread
		cur    int
		idling bool
		want   int
	}{
		{"alone", []thread{{state: threadRunning}}, 0, false, -1},
		{"a new thread", []thread{{state: threadRunning}, {}, {state: threadNew}}, 0, false, 2},
		{"a claimed slot is not ready", []thread{{state: threadRunning}, {state: threadClaimed}}, 0, false, -1},
		{"a semaphore raised", []thread{{state: threadRunning}, waitOn(&zero, -1), waitOn(&sem, -1)}, 0, false, 2},
		{"a deadline passed", []thread{{state: threadRunning}, waitOn(&zero, 100), waitOn(&zero, 50)}, 0, false, 2},
		{"a deadline to come", []thread{{state: threadRunning}, waitOn(&zero, 101)}, 0, false, -1},
		{"a yield", []thread{{state: threadRunning}, {state: threadWaiting, deadline: -1}}, 0, false, 1},
		{"round robin from the current", []thread{{state: threadNew}, {state: threadRunning}, {state: threadNew}}, 1, false, 2},
		{"round robin wraps", []thread{{state: threadNew}, {state: threadNew}, {state: threadRunning}}, 2, false, 0},
		{"a waiter wakes an idle thread", []thread{{state: threadRunning}, {state: threadIdle}}, 0, false, 1},
		{"an idle thread does not", []thread{{state: threadRunning}, {state: threadIdle, seen: 7}}, 0, true, -1},
		{"a wanted one before an idle one", []thread{{state: threadRunning}, {state: threadIdle, seen: 7}, waitOn(&sem, -1)}, 0, true, 2},
		{"the current is never picked", []thread{{state: threadNew}}, 0, false, -1},
		{"an idle thread poked since it idled", []thread{{state: threadRunning}, {state: threadIdle, seen: 6}}, 0, true, 1},
		{"a poked idle one in its turn", []thread{{state: threadRunning}, {state: threadIdle, seen: 7}, {state: threadIdle, seen: 6}, waitOn(&sem, -1)}, 0, true, 2},
	} {
		if got := pick(tc.ts, tc.cur, func() int64 { return 75 }, tc.idling, loadWord, 7); got != tc.want {
			t.Errorf("%s: pick = %d, want %d", tc.name, got, tc.want)
		}
	}
}

func TestEarliest(t *testing.T) {
	ts := []thread{
		{state: threadRunning, deadline: 5},
		{state: threadWaiting, deadline: -1},
		{state: threadWaiting, deadline: 40},
		{state: threadWaiting, deadline: 30},
		{state: threadIdle, deadline: 10},
	}
	if got := earliest(ts); got != 30 {
		t.Errorf("earliest = %d, want 30", got)
	}
	if got := earliest(ts[:2]); got != 0 {
		t.Errorf("earliest with no deadline = %d, want 0", got)
	}
}

// TestPlaceConcurrent places threads from many goroutines at once (run
// with -race): every slot goes to exactly one, and the rest are refused.
func TestPlaceConcurrent(t *testing.T) {
	ts := make([]thread, maxThreads)
	var mu sync.Mutex
	got := map[int]int{}
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range maxThreads {
				if i := place(ts); i >= 0 {
					mu.Lock()
					got[i]++
					mu.Unlock()
				}
			}
			_ = g
		}()
	}
	wg.Wait()
	if len(got) != maxThreads {
		t.Fatalf("%d slots placed, want %d", len(got), maxThreads)
	}
	for i, n := range got {
		if n != 1 || ts[i].state != threadClaimed {
			t.Errorf("slot %d placed %d times, state %d", i, n, ts[i].state)
		}
	}
	if i := place(ts); i != -1 {
		t.Errorf("place on a full table = %d, want -1", i)
	}
}

// TestSGI1R: the kick reaches exactly the CPU it is for, as the GIC
// model's decoder of the guest's ICC_SGI1R_EL1 writes reads it.
func TestSGI1R(t *testing.T) {
	for _, mpidr := range []uint64{0, 1, 3, 0x100, 0x10203, 0x1f, 0xff_0012_3456} {
		v := sgi1r(mpidr, 7)
		if id, self := vcpuif.DecodeSGI1R(v, mpidr); id != 7 || !self {
			t.Errorf("MPIDR %#x: %#x decodes as SGI %d for itself %v", mpidr, v, id, self)
		}
		if _, self := vcpuif.DecodeSGI1R(v, mpidr^1); self {
			t.Errorf("MPIDR %#x: %#x also reaches %#x", mpidr, v, mpidr^1)
		}
	}
}
