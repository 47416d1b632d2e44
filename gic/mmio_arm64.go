// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package gic

import (
	"sync/atomic"
	"unsafe"

	"github.com/ferry-hv/ferry/cpu"
)

// MMIO is a GIC register frame at its physical address, which Ferry's EL2
// identity map maps as Device memory. Accesses are single loads and stores
// of the exact width; offsets outside the frame or misaligned read as zero
// and ignore writes (the Guard never passes them, but a bad offset must not
// fault at EL2).
type MMIO struct {
	base uintptr
	size uint64
}

// NewMMIO returns the frame of size bytes at physical address base (e.g.
// the DTB's GICD, or GICR with size 0x20000 for RD_base and SGI_base).
func NewMMIO(base, size uint64) *MMIO { return &MMIO{base: uintptr(base), size: size} }

func (m *MMIO) ok(off uint64, n uint64) bool {
	return off%n == 0 && off < m.size && m.size-off >= n
}

func (m *MMIO) Read32(off uint64) uint32 {
	if !m.ok(off, 4) {
		return 0
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(m.base + uintptr(off))))
}

func (m *MMIO) Write32(off uint64, v uint32) {
	if m.ok(off, 4) {
		atomic.StoreUint32((*uint32)(unsafe.Pointer(m.base+uintptr(off))), v)
	}
}

func (m *MMIO) Read64(off uint64) uint64 {
	if !m.ok(off, 8) {
		return 0
	}
	return atomic.LoadUint64((*uint64)(unsafe.Pointer(m.base + uintptr(off))))
}

func (m *MMIO) Write64(off uint64, v uint64) {
	if m.ok(off, 8) {
		atomic.StoreUint64((*uint64)(unsafe.Pointer(m.base+uintptr(off))), v)
	}
}

// SysRegs is the CPU interface through the system registers. At EL2 the
// ICC_*_EL1 encodings reach the physical CPU interface, which holds the
// guest's Group 1 state (HCR_EL2.IMO = 0); ICH_VMCR_EL2 holds the virtual
// state the guest's Group 0, PMR and CTLR accesses reach (HCR_EL2.FMO = 1).
type SysRegs struct{}

func (SysRegs) ReadIGRPEN1() uint64   { return cpu.ReadICC_IGRPEN1_EL1() }
func (SysRegs) WriteIGRPEN1(v uint64) { cpu.WriteICC_IGRPEN1_EL1(v) }
func (SysRegs) ReadBPR1() uint64      { return cpu.ReadICC_BPR1_EL1() }
func (SysRegs) WriteBPR1(v uint64)    { cpu.WriteICC_BPR1_EL1(v) }
func (SysRegs) ReadVMCR() uint64      { return cpu.ReadICH_VMCR_EL2() }
func (SysRegs) WriteVMCR(v uint64)    { cpu.WriteICH_VMCR_EL2(v) }

// NumAP1R derives the number of ICC_AP1R<n>_EL1 from ICC_CTLR_EL1.PRIbits;
// the others are UNDEFINED and never accessed.
func (SysRegs) NumAP1R() int { return numAP1R(cpu.ReadICC_CTLR_EL1()) }

func (SysRegs) ReadAP1R(n int) uint64 {
	switch n {
	case 0:
		return cpu.ReadICC_AP1R0_EL1()
	case 1:
		return cpu.ReadICC_AP1R1_EL1()
	case 2:
		return cpu.ReadICC_AP1R2_EL1()
	case 3:
		return cpu.ReadICC_AP1R3_EL1()
	}
	return 0
}

func (SysRegs) WriteAP1R(n int, v uint64) {
	switch n {
	case 0:
		cpu.WriteICC_AP1R0_EL1(v)
	case 1:
		cpu.WriteICC_AP1R1_EL1(v)
	case 2:
		cpu.WriteICC_AP1R2_EL1(v)
	case 3:
		cpu.WriteICC_AP1R3_EL1(v)
	}
}
