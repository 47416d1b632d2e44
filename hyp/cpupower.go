// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"sync"

	"github.com/ferry-hv/ferry/cpu"
)

// VCPUPower is a vCPU's PSCI power state, as AFFINITY_INFO reports it
// (DEN 0022 5.1.5: ON 0, OFF 1, ON_PENDING 2).
type VCPUPower uint8

const (
	VCPUOn        VCPUPower = 0
	VCPUOff       VCPUPower = 1
	VCPUOnPending VCPUPower = 2
)

var vcpuPowerNames = [...]string{VCPUOn: "on", VCPUOff: "off", VCPUOnPending: "on-pending"}

func (s VCPUPower) String() string {
	if int(s) < len(vcpuPowerNames) {
		return vcpuPowerNames[s]
	}
	return fmt.Sprintf("VCPUPower(%d)", uint8(s))
}

// CPUStart is what a CPU_ON gives the vCPU it starts: where it begins
// (at EL1, its MMU off) and the context it finds in x0.
type CPUStart struct {
	Entry, Context uint64
}

// vcpuPowers is the power state of each of the guest's vCPUs, which Ferry
// answers the guest's CPU_ON, CPU_OFF and AFFINITY_INFO from itself, as
// KVM does (kvm_psci_vcpu_on, kvm_psci_vcpu_affinity_info): the board's
// CPUs are all Ferry's and stay on, and a guest entry point handed to the
// firmware would run the guest at EL2 (DESIGN.md, "Secondaries"). A vCPU
// is ON, OFF, or ON_PENDING between a CPU_ON that named it and its first
// entry (Started). The vCPUs are the board's CPUs, by index, each known by
// the affinity of its MPIDR_EL1 (VMPIDR_EL2).
// Every vCPU calls them, each from its own CPU: they hold a lock.
type vcpuPowers struct {
	mu    sync.Mutex
	mpidr []uint64
	state []VCPUPower
	start []CPUStart // by vCPU: the pending CPU_ON's, while ON_PENDING
	// onStart, if set, is told that vCPU i is now ON_PENDING (after the
	// lock is let go): whoever runs it starts it.
	onStart func(i int)
}

// newVCPUPowers returns the power state of vCPUs with the affinities
// mpidrs, the first (the boot vCPU) on and the rest off, as the board's
// firmware leaves its CPUs to an OS. Two vCPUs with one affinity are
// refused: a CPU_ON could not tell them apart.
func newVCPUPowers(mpidrs []uint64) (*vcpuPowers, error) {
	if len(mpidrs) == 0 {
		return nil, fmt.Errorf("psci: no CPUs")
	}
	p := &vcpuPowers{mpidr: make([]uint64, len(mpidrs)), state: make([]VCPUPower, len(mpidrs)), start: make([]CPUStart, len(mpidrs))}
	for i, m := range mpidrs {
		p.mpidr[i] = m & cpu.MPIDRAffinity
		for j := range i {
			if p.mpidr[j] == p.mpidr[i] {
				return nil, fmt.Errorf("psci: CPUs %d and %d share the affinity %#x", j, i, p.mpidr[i])
			}
		}
		p.state[i] = VCPUOff
	}
	p.state[0] = VCPUOn
	return p, nil
}

// find returns the vCPU whose affinity is target's (its affinity fields;
// -1 for none).
func (p *vcpuPowers) find(target uint64) int {
	for i, m := range p.mpidr {
		if m == target&cpu.MPIDRAffinity {
			return i
		}
	}
	return -1
}

// on is CPU_ON (DEN 0022 5.1.4) of the vCPU with affinity target, to
// start at entry with context: INVALID_PARAMETERS for a target that is no
// vCPU (or bits outside the affinity fields set), ALREADY_ON, ON_PENDING,
// INVALID_ADDRESS for an entry point outside guest RAM (inRAM), else
// SUCCESS with the vCPU ON_PENDING until Started.
func (p *vcpuPowers) on(target, entry, context uint64, inRAM func(uint64) bool) uint64 {
	r, i := p.turnOn(target, entry, context, inRAM)
	if r == PSCISuccess && p.onStart != nil {
		p.onStart(i)
	}
	return r
}

func (p *vcpuPowers) turnOn(target, entry, context uint64, inRAM func(uint64) bool) (uint64, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	i := p.find(target)
	if i < 0 || target&^cpu.MPIDRAffinity != 0 {
		return PSCIInvalidParams, i
	}
	switch p.state[i] {
	case VCPUOn:
		return PSCIAlreadyOn, i
	case VCPUOnPending:
		return PSCIOnPending, i
	}
	if inRAM == nil || !inRAM(entry) {
		return PSCIInvalidAddress, i
	}
	p.state[i], p.start[i] = VCPUOnPending, CPUStart{Entry: entry, Context: context}
	return PSCISuccess, i
}

// off is CPU_OFF (DEN 0022 5.1.3) of vCPU self: SUCCESS, the vCPU OFF,
// unless no other vCPU is on or about to be (ON_PENDING), when it is
// DENIED -- the guest would have no CPU left, and no way back -- or self
// is vCPU 0, the boot vCPU, which stays on: its CPU runs Ferry's own
// goroutines, and Linux never takes it down.
func (p *vcpuPowers) off(self int) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if self == 0 {
		return PSCIDenied
	}
	for i, s := range p.state {
		if i != self && s != VCPUOff {
			p.state[self] = VCPUOff
			return PSCISuccess
		}
	}
	return PSCIDenied
}

// affinityMask is the part of an MPIDR that AFFINITY_INFO compares at
// each lowest affinity level (DEN 0022 5.1.5: level n ignores Aff0..Aff(n-1)).
var affinityMask = [4]uint64{cpu.MPIDRAffinity, 0xff00ffff00, 0xff00ff0000, 0xff00000000}

// affinityInfo is AFFINITY_INFO (DEN 0022 5.1.5) of the affinity
// instance target at lowest level: ON if a vCPU in it is on, ON_PENDING if
// one is about to be, OFF if all are off; INVALID_PARAMETERS for a level
// beyond 3 or an instance with no vCPU.
func (p *vcpuPowers) affinityInfo(target, level uint64) uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if level >= uint64(len(affinityMask)) || target&^cpu.MPIDRAffinity != 0 {
		return PSCIInvalidParams
	}
	mask := affinityMask[level]
	found, pending := false, false
	for i, m := range p.mpidr {
		if m&mask != target&mask {
			continue
		}
		found = true
		switch p.state[i] {
		case VCPUOn:
			return uint64(VCPUOn)
		case VCPUOnPending:
			pending = true
		}
	}
	switch {
	case pending:
		return uint64(VCPUOnPending)
	case found:
		return uint64(VCPUOff)
	}
	return PSCIInvalidParams
}

// Started takes vCPU i's pending CPU_ON: it is ON from now, and begins at
// what the CPU_ON gave it. false if it was not ON_PENDING.
func (p *vcpuPowers) Started(i int) (CPUStart, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i < 0 || i >= len(p.state) || p.state[i] != VCPUOnPending {
		return CPUStart{}, false
	}
	p.state[i] = VCPUOn
	s := p.start[i]
	p.start[i] = CPUStart{}
	return s, true
}

// State is vCPU i's power state.
func (p *vcpuPowers) State(i int) VCPUPower {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[i]
}

// get is vCPU i's power state and, ON_PENDING, its CPU_ON's start.
func (p *vcpuPowers) get(i int) (VCPUPower, CPUStart) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state[i], p.start[i]
}

// set makes vCPU i's power state st, with start if ON_PENDING: a
// migration's (vCPU 0 stays on).
func (p *vcpuPowers) set(i int, st VCPUPower, start CPUStart) {
	if i == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if st != VCPUOnPending {
		start = CPUStart{}
	}
	p.state[i], p.start[i] = st, start
}

// Off turns vCPU i off whatever its state: Ferry stopped it (the guest
// restarts, or its CPU failed).
func (p *vcpuPowers) Off(i int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state[i], p.start[i] = VCPUOff, CPUStart{}
}
