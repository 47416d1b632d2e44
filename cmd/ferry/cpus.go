// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"fmt"
	"runtime"
	"time"

	"github.com/ferry-hv/ferry/boot/config"
	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
	"github.com/ferry-hv/ferry/hyp"
)

// kickSGI is the SGI by which Ferry's other CPUs wake the boot CPU (from
// WFI, or out of the guest): one of the Non-secure SGIs 0-7 (Arm's TF-A
// keeps 8-15 Secure), above Linux's (its IPIs are 0-6, and the guest's
// SGIs are virtual anyway).
const kickSGI = 7

// lockWithin bounds how long a secondary's goroutine waits for the
// scheduler to run it on that CPU.
const lockWithin = 10 * time.Second

// cpuWork are the secondaries' work queues, by CPU index (nil for the
// boot CPU and any CPU that is not up): what runs there.
var cpuWork []chan func()

// startCPUs brings up the board's other CPUs (at most ferry.cpus= in
// all) and locks one goroutine to each for good, serving its work queue.
// The runtime then has a P per CPU. The calling goroutine stays on the
// boot CPU meanwhile (it is locked there until every secondary's M is
// locked to its own goroutine; after that every M that is not runs on
// the boot CPU, el2.EndBringUp). It returns the secondaries that are up,
// by index (el2.CPU's numbering).
func startCPUs(b *dtb.Board, cfg config.Config) ([]int, error) {
	if cfg.CPUs == 1 {
		return nil, nil
	}
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	up, errs := el2.StartSecondaries(b, cfg.CPUs)
	defer el2.EndBringUp()
	for _, err := range errs {
		logf("cpu: %v", err)
	}
	if len(up) == 0 {
		return nil, nil
	}
	start := time.Now()
	runtime.GOMAXPROCS(1 + len(up))
	cpuWork = make([]chan func(), up[len(up)-1]+1)
	locked := make(chan error, len(up))
	for _, i := range up {
		cpuWork[i] = make(chan func(), 1)
		go serveCPU(i, locked, cpuWork[i])
	}
	for range up {
		if err := <-locked; err != nil {
			// Its M would run any of Ferry's goroutines, on the wrong
			// CPU's registers.
			return nil, fmt.Errorf("cpu: %w (ferry.cpus=1 runs Ferry on the boot CPU alone)", err)
		}
	}
	for _, i := range up {
		logf("cpu %d up: MPIDR %#x", i, el2.MPIDR(i))
	}
	logf("cpus: %d, Go on each (GOMAXPROCS %d), up in %v", 1+len(up), runtime.GOMAXPROCS(0), time.Since(start).Round(time.Microsecond))
	if cfg.SelfTest == "smp" {
		for _, i := range up {
			cpuWork[i] <- func() { churn(i) }
		}
	}
	return up, nil
}

// runVCPUs gives each secondary up[k-1] the guest's vCPU k: the guest has
// a vCPU on every CPU Ferry runs on, each run on its own CPU (hyp.RunVCPU)
// from the guest's CPU_ON of it.
func runVCPUs(m *hyp.Machine, up []int) {
	if len(up) == 0 {
		return
	}
	m.Kick = func(k int) { el2.Kick(cpuOf(up, k)) }
	for k, i := range up {
		cpuWork[i] <- func() {
			err := m.RunVCPU(k+1, func(vif *vcpuif.VIF, g *gic.Guard) error {
				if err := m.SetupCPU(vif, g); err != nil {
					return err
				}
				el2.EnableKicks(kickSGI, i)
				return nil
			})
			logf("vcpu %d on cpu %d stopped: %v", k+1, i, err)
		}
	}
}

// cpuOf is the CPU of vCPU k: the boot CPU's 0, the others' up[k-1].
func cpuOf(up []int, k int) int {
	if k == 0 {
		return 0
	}
	return up[k-1]
}

// serveCPU locks itself to CPU i's M, says so, and runs CPU i's work for
// ever (a goroutine locked to a secondary must not return).
func serveCPU(i int, locked chan<- error, work <-chan func()) {
	if err := el2.LockToCPU(i, lockWithin); err != nil {
		locked <- err
		return
	}
	locked <- nil
	for f := range work {
		f()
	}
	select {}
}

// churnBytes is what ferry.selftest=smp allocates and drops on each
// secondary, in churnChunk pieces: several times the heap's goal, so
// that collections (each stopping the world on every CPU) run while the
// guest boots on the boot CPU.
const (
	churnBytes = 256 << 20
	churnChunk = 64 << 10
)

var churnSink []byte

// churn is ferry.selftest=smp on CPU i.
func churn(i int) {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range churnBytes / churnChunk {
		churnSink = make([]byte, churnChunk)
		churnSink[0] = byte(i)
	}
	took := time.Since(start)
	runtime.ReadMemStats(&after)
	logf("cpu %d: selftest: %d MiB allocated and dropped on cpu %d in %v, %d collections, longest pause %v",
		i, churnBytes>>20, el2.CPU(), took.Round(time.Millisecond), after.NumGC-before.NumGC, maxPause(&after))
}

func maxPause(s *runtime.MemStats) time.Duration {
	var m uint64
	for _, p := range s.PauseNs {
		m = max(m, p)
	}
	return time.Duration(m)
}
