// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

import (
	"math"
	"math/bits"
)

// CNTHP_CTL_EL2 fields (ARM ARM D24.8 CNTHP_CTL_EL2).
const (
	cnthpEnable = 1 << 0 // timer enabled, interrupt not masked (IMASK, bit 1, clear)
)

// ArmHypTimer makes the EL2 physical timer (CNTHP) fire when the physical
// count reaches at. Its interrupt is Ferry's deadline: the next of its own
// timers.
func ArmHypTimer(at uint64) {
	WriteCNTHP_CVAL_EL2(at)
	WriteCNTHP_CTL_EL2(cnthpEnable)
}

// DisarmHypTimer turns the EL2 physical timer off (CNTHP_CTL_EL2.ENABLE
// clear): its interrupt, a level, drops.
func DisarmHypTimer() { WriteCNTHP_CTL_EL2(0) }

// spuriousINTID is the first special INTID (GICv3 2.2.1, "Special
// INTIDs"): ICC_HPPIR1_EL1 reads one when nothing of Group 1 is pending.
const spuriousINTID = 1020

// Group1Pending reports whether a Group 1 interrupt (the guest's) is
// pending at the CPU interface: ICC_HPPIR1_EL1 holds a real INTID.
func Group1Pending() bool { return uint32(ReadICC_HPPIR1_EL1()&0xffffff) < spuriousINTID }

// Ticks converts a duration in nanoseconds (not negative) to counter
// ticks, without overflow for any duration an int64 holds (an hour at
// 1 GHz is 3.6e21 before the division).
func Ticks(ns int64) uint64 {
	hi, lo := bits.Mul64(uint64(ns), ReadCNTFRQ_EL0())
	if hi >= 1e9 {
		return math.MaxUint64
	}
	t, _ := bits.Div64(hi, lo, 1e9)
	return t
}

// Nanotime is the time since the counter started, in nanoseconds: the Go
// runtime's clock on the board.
//
//go:nosplit
func Nanotime() int64 {
	hi, lo := bits.Mul64(ReadCNTPCT_EL0(), 1e9)
	ns, _ := bits.Div64(hi, lo, ReadCNTFRQ_EL0())
	return int64(ns)
}
