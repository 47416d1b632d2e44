// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"slices"
	"testing"

	"github.com/ferry-hv/ferry/cpu"
)

// fourCPUs are QEMU virt's MPIDRs with -smp 4 (Aff0 the index, bit 31
// RES1), as the vCPUs have them.
var fourCPUs = []uint64{0x80000000, 0x80000001, 0x80000002, 0x80000003}

const (
	ramBase, ramEnd    = 0x4000_0000, 0x8000_0000
	onEntry, onContext = 0x4020_0000, 0xc0ffee
)

func inTestRAM(a uint64) bool { return a >= ramBase && a < ramEnd }

// The power states through a CPU's life: off, CPU_ON (ON_PENDING until it
// starts, with the onEntry point and onContext it was given), on, CPU_OFF.
func TestVCPUPowers(t *testing.T) {
	p, err := newVCPUPowers(fourCPUs)
	if err != nil {
		t.Fatal(err)
	}
	want := func(i int, s VCPUPower) {
		t.Helper()
		if got := p.State(i); got != s {
			t.Fatalf("vCPU %d %v, want %v", i, got, s)
		}
		if got := p.affinityInfo(fourCPUs[i]&cpu.MPIDRAffinity, 0); got != uint64(s) {
			t.Fatalf("AFFINITY_INFO(vCPU %d) = %#x, want %v", i, got, s)
		}
	}
	want(0, VCPUOn)
	want(1, VCPUOff)
	call := func(name string, got, want uint64) {
		t.Helper()
		if got != want {
			t.Fatalf("%s = %#x, want %#x", name, got, want)
		}
	}
	call("CPU_ON(vCPU 0)", p.on(0, onEntry, onContext, inTestRAM), PSCIAlreadyOn)
	call("CPU_ON(vCPU 1) outside RAM", p.on(1, 0x1000, onContext, inTestRAM), PSCIInvalidAddress)
	want(1, VCPUOff)
	call("CPU_ON(no such CPU)", p.on(7, onEntry, onContext, inTestRAM), PSCIInvalidParams)
	call("CPU_ON(bits beyond the affinity)", p.on(1<<40|1, onEntry, onContext, inTestRAM), PSCIInvalidParams)
	if _, ok := p.Started(1); ok {
		t.Fatal("vCPU 1 started with no CPU_ON")
	}
	call("CPU_ON(vCPU 1)", p.on(0x1, onEntry, onContext, inTestRAM), PSCISuccess)
	want(1, VCPUOnPending)
	call("CPU_ON(vCPU 1) again", p.on(1, onEntry+4, 0, inTestRAM), PSCIOnPending)
	s, ok := p.Started(1)
	if !ok || s != (CPUStart{Entry: onEntry, Context: onContext}) {
		t.Fatalf("vCPU 1 starts %+v %v, want the first CPU_ON's", s, ok)
	}
	want(1, VCPUOn)
	if _, ok := p.Started(1); ok {
		t.Fatal("vCPU 1 started twice")
	}
	call("CPU_ON(vCPU 1) once it runs", p.on(1, onEntry, onContext, inTestRAM), PSCIAlreadyOn)
	call("CPU_OFF(vCPU 0), the boot vCPU", p.off(0), PSCIDenied)
	want(0, VCPUOn)
	call("CPU_OFF(vCPU 1)", p.off(1), PSCISuccess)
	want(1, VCPUOff)
	call("CPU_ON(vCPU 2)", p.on(2, onEntry, onContext, inTestRAM), PSCISuccess)
	p.Off(0) // as if the boot vCPU were gone
	call("CPU_OFF(vCPU 2), on its way, the last", p.off(2), PSCIDenied)
	var started []int
	p.onStart = func(i int) { started = append(started, i) }
	call("CPU_ON(vCPU 1) told", p.on(1, onEntry, onContext, inTestRAM), PSCISuccess)
	call("CPU_ON(vCPU 1) again, not told", p.on(1, onEntry, onContext, inTestRAM), PSCIOnPending)
	if !slices.Equal(started, []int{1}) {
		t.Errorf("onStart told %v, want [1]", started)
	}
}

// AFFINITY_INFO at each lowest affinity level: an instance is ON if any of
// its vCPUs is, ON_PENDING if one is about to be, OFF if none is;
// INVALID_PARAMETERS for an instance with no vCPU or a level beyond 3.
func TestAffinityInfoLevels(t *testing.T) {
	// Two clusters of two (Aff1 0 and 1), as a big.LITTLE board has them.
	p, err := newVCPUPowers([]uint64{0x80000000, 0x80000001, 0x80000100, 0x80000101})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name          string
		target, level uint64
		want          uint64
	}{
		{"cluster 0, level 1: vCPU 0 on", 0x000, 1, uint64(VCPUOn)},
		{"cluster 1, level 1: all off", 0x100, 1, uint64(VCPUOff)},
		{"cluster 1's Aff0 ignored at level 1", 0x1ff, 1, uint64(VCPUOff)},
		{"level 2: the whole machine", 0x100, 2, uint64(VCPUOn)},
		{"level 3", 0, 3, uint64(VCPUOn)},
		{"cluster 2: none", 0x200, 1, PSCIInvalidParams},
		{"level 4", 0, 4, PSCIInvalidParams},
		{"an MPIDR with bits beyond the affinity", 1 << 31, 0, PSCIInvalidParams},
	} {
		if got := p.affinityInfo(c.target, c.level); got != c.want {
			t.Errorf("%s: AFFINITY_INFO(%#x, %d) = %#x, want %#x", c.name, c.target, c.level, got, c.want)
		}
	}
	if p.on(0x100, onEntry, onContext, inTestRAM) != PSCISuccess || p.affinityInfo(0x100, 1) != uint64(VCPUOnPending) {
		t.Error("cluster 1 with a vCPU on its way is not ON_PENDING")
	}
}

func TestVCPUPowersRefuses(t *testing.T) {
	if _, err := newVCPUPowers(nil); err == nil {
		t.Error("no CPUs accepted")
	}
	if _, err := newVCPUPowers([]uint64{0x80000001, 0x1}); err == nil {
		t.Error("two CPUs of one affinity accepted")
	}
}

// The guest's CPU_ON through its SMC: an SMC32 call's arguments are 32
// bits, whatever the upper halves of x1..x3 hold.
func TestCPUOnSMC32(t *testing.T) {
	p, err := newVCPUPowers(fourCPUs)
	if err != nil {
		t.Fatal(err)
	}
	v := &VCPU{MPIDR: fourCPUs[0], Powers: p, InRAM: inTestRAM, Firmware: (&firmware{}).call}
	v.Ctx.ESR = cpu.ECSMC64<<26 | 1<<25
	v.Ctx.X[0], v.Ctx.X[1], v.Ctx.X[2], v.Ctx.X[3] = PSCICPUOn32, 0xdead_0000_0000_0003, 0xffff_ffff_0000_0000|onEntry, onContext
	if err := v.Dispatch(cpu.ExitSync); err != nil {
		t.Fatal(err)
	}
	if v.Ctx.X[0] != PSCISuccess || p.State(3) != VCPUOnPending {
		t.Fatalf("CPU_ON (SMC32) = %#x, vCPU 3 %v", v.Ctx.X[0], p.State(3))
	}
	if s, _ := p.Started(3); s.Entry != onEntry {
		t.Errorf("vCPU 3 starts at %#x, want %#x", s.Entry, uint64(onEntry))
	}
}

// A guest's power calls in any order, with any arguments and either
// calling convention's width, through its SMC: every answer is one PSCI
// defines for the call, AFFINITY_INFO of each vCPU says its state, and
// the guest is never left with no vCPU on or about to be.
func FuzzPowerCalls(f *testing.F) {
	f.Add([]byte{0, 1, 0x10, 2, 1, 3, 1})
	f.Add([]byte{1, 0, 0, 2, 0xff, 4, 2})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := newVCPUPowers(fourCPUs)
		if err != nil {
			t.Fatal(err)
		}
		for len(b) >= 3 {
			op, x1, x2 := b[0], uint64(b[1]), uint64(b[2])
			b = b[3:]
			self := int(op>>4) % len(fourCPUs)
			if p.State(self) != VCPUOn {
				continue // only a running vCPU calls
			}
			v := &VCPU{MPIDR: fourCPUs[self], Index: self, Powers: p, InRAM: inTestRAM, Firmware: (&firmware{}).call}
			v.Ctx.ESR = cpu.ECSMC64<<26 | 1<<25
			// x1: a vCPU's affinity, or junk in the upper half; x2: an
			// entry point in RAM or not, or a level.
			target := x1 % 8
			if x1&0x80 != 0 {
				target |= 0xffff_ffff_0000_0000
			}
			entry := uint64(onEntry)
			if x2&1 != 0 {
				entry = x2 << 4
			}
			var fid uint32
			var allowed []uint64
			switch op % 4 {
			case 0:
				fid, allowed = PSCICPUOn64, []uint64{PSCISuccess, PSCIInvalidParams, PSCIAlreadyOn, PSCIOnPending, PSCIInvalidAddress}
				if op&8 != 0 {
					fid = PSCICPUOn32
				}
			case 1:
				fid, allowed = PSCICPUOff, []uint64{PSCISuccess, PSCIDenied}
			case 2:
				fid, allowed = PSCIAffinityInfo64, []uint64{0, 1, 2, PSCIInvalidParams}
				entry = x2 % 6
			case 3:
				p.Started(int(x2) % len(fourCPUs)) // a vCPU's first entry
				continue
			}
			v.Ctx.X[0], v.Ctx.X[1], v.Ctx.X[2], v.Ctx.X[3] = uint64(fid), target, entry, 0
			if err := v.Dispatch(cpu.ExitSync); err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(allowed, v.Ctx.X[0]) {
				t.Fatalf("call %#x(%#x, %#x) answered %#x", fid, target, entry, v.Ctx.X[0])
			}
			live := 0
			for i, m := range fourCPUs {
				s := p.State(i)
				if got := p.affinityInfo(m&cpu.MPIDRAffinity, 0); got != uint64(s) {
					t.Fatalf("vCPU %d is %v, AFFINITY_INFO says %#x", i, s, got)
				}
				if s != VCPUOff {
					live++
				}
			}
			if live == 0 {
				t.Fatal("every vCPU is off")
			}
		}
	})
}
