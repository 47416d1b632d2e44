// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"slices"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/phys"
)

// restart is a guest's restart on this board after its SYSTEM_RESET: the
// machine put back as a power-on leaves it and the guest booted again from
// the boot stash (package guest), on the board it runs on now -- the one
// that booted it, or one it was migrated to. What becomes of each part:
//
//   - its NICs' devices are reset and their models forget the driver's
//     set-up, first, so that no DMA of the old guest's continues into the
//     new one's memory (the shadow rings are dropped; the new driver sets
//     the device up again); a relayed EQOS's channels are stopped and its
//     relay forgets their rings;
//   - its timers are turned off and the GIC's guest part goes back to the
//     state before any guest: its interrupts disabled, none pending or
//     active, every interrupt Ferry acknowledged for it ended and the
//     virtual CPU interface emptied (list registers, priority mask, group
//     enables and active priorities zero) -- the discarder's work;
//   - the kernel and initramfs are copied back from the stash (checked
//     first: a stash the guest damaged restarts nothing), the DTB is made
//     again from this board's firmware DTB with a fresh rng-seed, and all
//     three are cleaned to the point of coherency (the kernel starts with
//     its MMU and caches off) and marked dirty if a migration is tracking;
//   - the instruction cache and the guest's TLB entries are invalidated;
//   - the CPU gets its power-on state (powerOn), pointed at the kernel as
//     at the first boot (x0 the DTB, EL1h, interrupts masked), the virtual
//     counter's offset zero again;
//   - the console UART is left as the guest left it: it is passed through,
//     and the new kernel's driver programs it at its probe;
//   - the rest of guest RAM keeps what the guest wrote, as a reset leaves
//     DRAM.
//
// The steps are plain Go over these operations, host-tested with fakes;
// power_arm64.go binds them to the hardware.
type restart struct {
	ram         guest.Memory
	guestRAM    []phys.Range // the machine description's
	patch       dtb.Patch    // the machine's DTB patch
	firmwareDTB []byte
	seed        func() []byte // a fresh rng-seed

	resetDevices func()                    // NICs, timers, GIC and virtual interface (discarder)
	wrote        func(phys.Range)          // Ferry wrote guest RAM: clean it to PoC, mark it dirty while tracking
	sync         func()                    // invalidate the instruction cache and the guest's TLB entries
	resetCPU     func(*guest.Layout) error // the CPU at power-on, pointed at the kernel
}

// run restarts the guest and returns its boot's layout. An error leaves
// the guest's devices reset and nothing else changed: the guest cannot
// run again.
func (r *restart) run() (*guest.Layout, error) {
	r.resetDevices()
	s, err := guest.LoadStash(r.ram, r.guestRAM)
	if err != nil {
		return nil, err
	}
	l := s.Layout(r.guestRAM)
	blob, err := l.DeviceTree(r.firmwareDTB, r.patch, s.Memory(r.guestRAM), r.seed())
	if err != nil {
		return nil, fmt.Errorf("the guest's DTB: %w", err)
	}
	if err := s.Restore(r.ram); err != nil {
		return nil, err
	}
	to, err := r.ram.Slice(l.DTB, len(blob))
	if err != nil {
		return nil, fmt.Errorf("the guest's DTB: %w", err)
	}
	copy(to, blob)
	for _, w := range []phys.Range{{Base: l.DTB, Size: uint64(len(blob))}, {Base: l.Kernel, Size: l.KernelEnd - l.Kernel}, l.Initrd} {
		if w.Size > 0 {
			r.wrote(w)
		}
	}
	r.sync()
	if err := r.resetCPU(l); err != nil {
		return nil, fmt.Errorf("the guest's CPU: %w", err)
	}
	return l, nil
}

// powerOn is the guest's CPU state as a power-on leaves it, for the CPU
// whose current state is cur (its features, identity and the number of
// its breakpoints and watchpoints are kept): every general, FP/SIMD and EL1
// system register zero but SCTLR_EL1 (its RES1 bits: MMU and caches off),
// PSTATE EL1h with interrupts masked, the pointer-authentication keys and
// SVE predicates zero, every breakpoint and watchpoint disabled and the OS
// lock locked, as a cold reset leaves it (ARM ARM D2, "OSLSR_EL1.OSLK
// resets to 1"). The guest's kernel sets up everything else it uses.
func powerOn(cur *cpu.State) *cpu.State {
	s := &cpu.State{
		Features: cur.Features,
		MIDR:     cur.MIDR,
		MPIDR:    cur.MPIDR,
		SysRegs:  make([]uint64, len(cpu.SysRegNames)),
		ZCR:      0,
		SVEVL:    cur.SVEVL,
		SVEPred:  make([]byte, len(cur.SVEPred)),
		Debug: cpu.Debug{
			BVR: make([]uint64, len(cur.Debug.BVR)), BCR: make([]uint64, len(cur.Debug.BCR)),
			WVR: make([]uint64, len(cur.Debug.WVR)), WCR: make([]uint64, len(cur.Debug.WCR)),
			OSLK: true,
		},
	}
	s.Ctx.PSTATE = cpu.SPSR_EL1h | cpu.SPSR_DAIF
	s.SysRegs[slices.Index(cpu.SysRegNames, "SCTLR_EL1")] = cpu.SCTLR_EL1Reset
	if cur.PAuth != nil {
		s.PAuth = make([]uint64, len(cur.PAuth))
	}
	if cur.SVEPred == nil {
		s.SVEPred = nil
	}
	return s
}
