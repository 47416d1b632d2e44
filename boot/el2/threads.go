// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package el2

import "sync/atomic"

// Threads carry the Go runtime's Ms (docs/decisions.md, "Go on every
// CPU"). The runtime asks for an M whenever it needs one (goos.Task), and
// expects it to run in parallel with the others, as an OS thread would.
// Ferry gives each secondary CPU exactly one M -- the first it asks for
// once that CPU is up, which a goroutine then locks to that CPU for good --
// and every other M to the boot CPU, where they take turns: an M gives the
// CPU away only where it waits (the runtime's semasleep, osyield and
// usleep call goosPark, patched in by scripts/tamago-go-smp.patch) or
// idles (goos.Idle). Nothing preempts a thread, and Ferry's code at EL2
// runs with interrupts masked, so a switch happens only at those points
// and saves only what a Go call preserves: SP, g, the frame pointer and
// the link register.
//
// This file is the policy, over plain data (host-tested); smp_arm64.go
// and smp_arm64.s are the switch and the secondaries' bring-up.

// maxThreads bounds the Ms one CPU carries. The runtime starts an M for a
// P with work and none free, so the boot CPU holds at most GOMAXPROCS of
// them, plus the ones parked in LockOSThread handovers; a secondary holds
// one.
const maxThreads = 32

// Thread states.
const (
	threadFree    uint32 = iota
	threadClaimed        // being placed by Task
	threadNew            // placed by Task, never run
	threadWaiting        // switched out where it waits (Park)
	threadIdle           // switched out where it idles (Idle)
	threadRunning        // the CPU's current thread
)

// thread is one M's slot: its state and, while switched out, its context.
// Every field is a plain integer: Task and Park run without a P, where
// the runtime allows no write barriers.
type thread struct {
	state uint32
	// seen is the CPU's pokes when the thread went idle: a poke since
	// (Wake of its CPU) makes it wanted again.
	seen uint32
	// The context a switch saves and loads (smp_arm64.s): the stack
	// pointer, g (R28), the frame pointer (R29), the link register (R30),
	// and for a new thread the function it starts in (mstart).
	sp, g, fp, lr, fn uintptr
	wait              uintptr // what it waits on (*uint32) to be non-zero; 0: it only yields
	deadline          int64   // when it runs again anyway (nanotime); -1: never
}

// ready reports whether t may run at now(), and whether it is a thread that
// waits for something the CPU has (rather than an idle one). An idle
// thread is wanted once its CPU was poked (pokes moved on since it
// idled): its M holds a P that the runtime asks something of -- a
// goroutine to run, a safe point for forEachP, a stop -- and it must look. Like every
// function a switch goes through, it is nosplit: the runtime parks an M
// where it may have no g (osyield_no_g).
//
//go:nosplit
func (t *thread) ready(now func() int64, load func(uintptr) uint32, pokes uint32) (ok, wanted bool) {
	switch atomic.LoadUint32(&t.state) {
	case threadNew:
		return true, true
	case threadWaiting:
		if t.wait == 0 || load(t.wait) != 0 || (t.deadline >= 0 && now() >= t.deadline) {
			return true, true
		}
	case threadIdle:
		return true, atomic.LoadUint32(&t.seen) != pokes
	}
	return false, false
}

// pick returns the thread of ts to run after cur, round robin, or -1: the
// first one a wait of which is met (or new, or idle and poked since: pokes
// is the CPU's), else, unless idling (the
// caller idles, or only yields: it would hand the CPU to an idle thread
// and straight back), the first idle one -- an idle M holds a P and must
// see a stop-the-world request. now is the clock, read only for a thread
// with a deadline (under QEMU's TCG a counter read waits for its big
// lock).
//
//go:nosplit
func pick(ts []thread, cur int, now func() int64, idling bool, load func(uintptr) uint32, pokes uint32) int {
	idle := -1
	for i := 1; i < len(ts); i++ {
		k := (cur + i) % len(ts)
		ok, wanted := ts[k].ready(now, load, pokes)
		switch {
		case ok && wanted:
			return k
		case ok && idle < 0:
			idle = k
		}
	}
	if idling {
		return -1
	}
	return idle
}

// earliest returns the earliest deadline of ts's waiting threads, 0 if
// none: an idle CPU must wake by then.
//
//go:nosplit
func earliest(ts []thread) int64 {
	var d int64
	for i := range ts {
		t := &ts[i]
		if atomic.LoadUint32(&t.state) == threadWaiting && t.deadline >= 0 && (d == 0 || t.deadline < d) {
			d = max(t.deadline, 1)
		}
	}
	return d
}

// place returns the slot of ts a new thread takes, -1 if none is free.
// Placing is the only write another CPU makes to a CPU's slots: it claims
// a free one with a compare-and-swap, fills it, and publishes the thread
// by storing threadNew last.
//
//go:nosplit
func place(ts []thread) int {
	for i := range ts {
		if atomic.CompareAndSwapUint32(&ts[i].state, threadFree, threadClaimed) {
			return i
		}
	}
	return -1
}

// sgi1r is the ICC_SGI1R_EL1 value that sends SGI intid (0-15) to the one
// CPU whose affinity is mpidr (GICv3, IHI 0069 12.2.23 ICC_SGI1R_EL1:
// Aff3 in [55:48], RS = Aff0 / 16 in [47:44], Aff2 in [39:32], INTID in
// [27:24], Aff1 in [23:16], TargetList bit Aff0 % 16 in [15:0]).
//
//go:nosplit
func sgi1r(mpidr uint64, intid uint32) uint64 {
	aff0 := mpidr & 0xff
	return (mpidr>>32&0xff)<<48 | (aff0/16)<<44 | (mpidr>>16&0xff)<<32 |
		uint64(intid&0xf)<<24 | (mpidr>>8&0xff)<<16 | 1<<(aff0%16)
}
