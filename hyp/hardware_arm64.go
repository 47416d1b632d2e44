// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package hyp

import (
	"math/bits"
	"unsafe"

	"github.com/ferry-hv/ferry/cpu"
)

// cpuHardware is Hardware on the CPU Ferry runs on, at EL2.
type cpuHardware struct{}

func (cpuHardware) Now() int64 { return cpu.Nanotime() }

func (cpuHardware) SetTimer(at int64) {
	if at <= 0 {
		cpu.DisarmHypTimer()
		return
	}
	cpu.ArmHypTimer(cpu.ReadCNTPCT_EL0() + cpu.Ticks(max(at-cpu.Nanotime(), 0)))
}

func (cpuHardware) WaitForInterrupt()           { cpu.WaitForInterrupt() }
func (cpuHardware) WaitForEvent()               { cpu.WaitForEvent() }
func (cpuHardware) Enter(c *cpu.Context) uint64 { return cpu.Enter(c) }
func (cpuHardware) Ack() uint32                 { return cpu.AckGroup1() }
func (cpuHardware) Drop(id uint32)              { cpu.DropGroup1(id) }
func (cpuHardware) Deactivate(id uint32)        { cpu.DeactivateInterrupt(id) }
func (cpuHardware) Pending() bool               { return cpu.Group1Pending() }

func (cpuHardware) TrapWFI(on bool) {
	hcr := cpu.ReadHCR_EL2()
	if on != (hcr&cpu.HCR_TWI != 0) {
		cpu.WriteHCR_EL2(hcr ^ cpu.HCR_TWI)
	}
}

func (cpuHardware) GuestTimers() [2]GuestTimer {
	now, ns, hz := cpu.ReadCNTPCT_EL0(), cpu.Nanotime(), cpu.ReadCNTFRQ_EL0()
	// A compare value as a time: now plus what is left, or minus what has
	// passed, at most an hour either way.
	at := func(cval uint64) int64 {
		if cval >= now {
			return ns + ticksNS(cval-now, hz)
		}
		return ns - ticksNS(now-cval, hz)
	}
	return [2]GuestTimer{
		{cpu.ReadCNTV_CTL_EL0(), at(cpu.ReadCNTV_CVAL_EL0() + cpu.ReadCNTVOFF_EL2())},
		{cpu.ReadCNTP_CTL_EL0(), at(cpu.ReadCNTP_CVAL_EL0())},
	}
}

// ticksNS is d ticks of a counter at hz in nanoseconds, at most an hour.
func ticksNS(d, hz uint64) int64 {
	hi, lo := bits.Mul64(min(d, 3600*hz), 1e9)
	ns, _ := bits.Div64(hi, lo, hz)
	return int64(ns)
}

func (cpuHardware) StopGuestTimers() {
	cpu.WriteCNTV_CTL_EL0(0)
	cpu.WriteCNTP_CTL_EL0(0)
}

func (cpuHardware) FlushStage2()                        { cpu.FlushStage2() }
func (cpuHardware) InvalidateIPA(ipa uint64, level int) { cpu.Stage2TLB{}.InvalidateIPA(ipa, level) }
func (cpuHardware) InvalidateGuestPage(ipa uint64)      { cpu.InvalidateGuestPage(ipa) }
func (cpuHardware) InvalidateGuestWrite(ipa, va uint64) { cpu.InvalidateGuestWrite(ipa, va) }
func (cpuHardware) CleanDcache(pa, size uint64)         { cpu.CleanDcache(pa, size) }
func (cpuHardware) InvalidateIcache()                   { cpu.InvalidateIcache() }

func (cpuHardware) RAM(pa, n uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(pa))), n)
}
