// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package mmio emulates the guest's accesses to trapped device pages: a
// stage-2 data abort on a page Ferry left unmapped is decoded once into an
// Access, performed on the Device that owns the address, and the guest's
// register file and PC are updated as the load or store would have.
//
// It knows the AArch64 load/store syndrome and nothing about any device:
// device models (gic.Guard, virtiommio.Transport, mmio.Page) implement
// Device. Forward, in forward_arm64.go, is the only code here that touches
// hardware.
package mmio

import (
	"fmt"
	"slices"

	"github.com/ferry-hv/ferry/cpu"
)

// Device is a device model: the offset is from the start of its region;
// size is 1, 2, 4 or 8 bytes; values are right-aligned. What an offset
// means, including one the model does not know, is the model's business:
// it must not panic or block on any offset or size.
type Device interface {
	Read(off uint64, size int) uint64
	Write(off uint64, size int, v uint64)
}

// Access is a trapped load or store decoded once from its syndrome (ARM
// ARM D23.2 ESR_EL2, ISS encoding for a Data Abort with ISV = 1).
type Access struct {
	IPA     uint64 // the address accessed
	Size    int    // bytes: 1, 2, 4 or 8 (ISS.SAS)
	Write   bool   // a store (ISS.WnR)
	Reg     int    // the register transferred (ISS.SRT); cpu.RegZR is XZR/WZR
	SignExt bool   // a load sign-extends (ISS.SSE)
	Reg64   bool   // the register is X, not W (ISS.SF)
}

// Mask is the value mask of an access of size bytes.
func Mask(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*size) - 1
}

// AbortError is a trapped access Ferry cannot emulate; the hypervisor
// reports it and stops the guest.
type AbortError struct {
	IPA    uint64
	PC     uint64
	ESR    cpu.ESR
	Reason string
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("mmio: cannot emulate the guest's access to IPA %#x at PC %#x: %s (%v)", e.IPA, e.PC, e.Reason, e.ESR)
}

// Decode turns a data-abort syndrome and its IPA into an Access. pc is the
// faulting instruction's address, for the error.
func Decode(esr cpu.ESR, ipa, pc uint64) (Access, error) {
	fail := func(why string) (Access, error) {
		return Access{}, &AbortError{IPA: ipa, PC: pc, ESR: esr, Reason: why}
	}
	if ec := esr.EC(); ec != cpu.ECDAbortLow {
		return fail(fmt.Sprintf("exception class %#x is not a data abort from the guest", ec))
	}
	d := cpu.DecodeDataAbort(esr)
	switch {
	case !d.Valid:
		return fail("no valid instruction syndrome (ISV = 0: a load/store pair, writeback addressing, SIMD or atomic access)")
	case d.S1PTW:
		return fail("the guest's stage-1 table walk touched a device page")
	case !d.FARValid:
		return fail("FAR not valid (FnV = 1): the offset in the page is unknown")
	case d.Size == 8 && !d.Reg64:
		return fail("an 8-byte access through a 32-bit register")
	}
	return Access{IPA: ipa, Size: d.Size, Write: d.Write, Reg: d.Reg, SignExt: d.SignExt, Reg64: d.Reg64}, nil
}

// LoadValue is what a load of v (the device's value, right-aligned)
// leaves in the destination register: masked to the access size, then
// sign-extended if asked to the register's width; a W register's upper
// half is zero.
func (a Access) LoadValue(v uint64) uint64 {
	v &= Mask(a.Size)
	if a.SignExt && a.Size < 8 {
		shift := 64 - 8*uint(a.Size)
		v = uint64(int64(v<<shift) >> shift)
	}
	if !a.Reg64 {
		v &= 0xffff_ffff
	}
	return v
}

type region struct {
	base, size uint64
	dev        Device
}

// Bus maps ranges of the guest's IPA space to Devices. Build it before the
// guest runs; Handle only reads it.
type Bus struct {
	regions []region // sorted by base, not overlapping
}

// Add maps [base, base+size) to d. The range must be non-empty, 8-byte
// aligned at both ends (so no aligned access crosses its end), and not
// overlap a range already added.
func (b *Bus) Add(base, size uint64, d Device) error {
	switch {
	case d == nil:
		return fmt.Errorf("mmio: add [%#x+%#x]: nil device", base, size)
	case size == 0 || base%8 != 0 || size%8 != 0:
		return fmt.Errorf("mmio: add [%#x+%#x]: empty or not 8-byte aligned", base, size)
	case base+size < base:
		return fmt.Errorf("mmio: add [%#x+%#x]: wraps around the address space", base, size)
	}
	i, _ := slices.BinarySearchFunc(b.regions, base, func(r region, x uint64) int {
		switch {
		case r.base < x:
			return -1
		case r.base > x:
			return 1
		}
		return 0
	})
	if i > 0 {
		if p := b.regions[i-1]; p.base+p.size > base {
			return fmt.Errorf("mmio: add [%#x+%#x]: overlaps [%#x+%#x]", base, size, p.base, p.size)
		}
	}
	if i < len(b.regions) {
		if n := b.regions[i]; base+size > n.base {
			return fmt.Errorf("mmio: add [%#x+%#x]: overlaps [%#x+%#x]", base, size, n.base, n.size)
		}
	}
	b.regions = slices.Insert(b.regions, i, region{base, size, d})
	return nil
}

// Lookup returns the device holding ipa and ipa's offset in it.
func (b *Bus) Lookup(ipa uint64) (Device, uint64, bool) {
	i, found := slices.BinarySearchFunc(b.regions, ipa, func(r region, x uint64) int {
		switch {
		case r.base+r.size <= x:
			return -1
		case r.base > x:
			return 1
		}
		return 0
	})
	if !found {
		return nil, 0, false
	}
	r := b.regions[i]
	return r.dev, ipa - r.base, true
}

// Handle emulates a guest data abort (EC 0x24) at ipa: if ipa is on the
// bus, the access is decoded, performed on the device, the loaded value
// written to its register (not for XZR), and the guest's PC advanced past
// the instruction. It reports whether ipa was on the bus; an access on the
// bus that cannot be emulated (no valid syndrome) is an *AbortError, and
// the guest's state is left unchanged.
func (b *Bus) Handle(c *cpu.Context, esr cpu.ESR, ipa uint64) (handled bool, err error) {
	dev, off, ok := b.Lookup(ipa)
	if !ok {
		return false, nil
	}
	a, err := Decode(esr, ipa, c.PC)
	if err != nil {
		return true, err
	}
	if a.Write {
		var v uint64
		if a.Reg != cpu.RegZR {
			v = c.X[a.Reg]
		}
		dev.Write(off, a.Size, v&Mask(a.Size))
	} else {
		v := a.LoadValue(dev.Read(off, a.Size))
		if a.Reg != cpu.RegZR {
			c.X[a.Reg] = v
		}
	}
	c.Advance(esr)
	return true, nil
}
