// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package imx8mp

import (
	"time"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/el2"
)

// The SNVS low-power secure real-time counter: a 47-bit count of a
// 32.768 kHz clock, kept by the coin cell (IMX8MPRM, the SNVS chapter:
// SNVS_LP Secure Real Time Counter MSB/LSB Registers; Linux's
// drivers/rtc/rtc-snvs.c reads it the same way, from the normal world).
const (
	snvsLPSRTCMR  = 0x50 // SNVS_LPSRTCMR: counter bits [46:32] in [14:0]
	snvsLPSRTCLR  = 0x54 // SNVS_LPSRTCLR: counter bits [31:0]
	snvsSRTCShift = 15   // 2^15 counts a second
	snvsReads     = 10   // reads until two agree (the counter ticks between MR and LR)
)

// WallClock returns the date, read once from the SNVS real-time counter
// and carried on by the generic timer, or ok false if the board has no
// SNVS node, or its counter reads zero or unstable (never set: the Go
// runtime's own clock starts at 1970).
func WallClock() (now func() time.Time, ok bool) {
	b := el2.Board()
	if b == nil {
		return nil, false
	}
	var base uintptr
	for _, d := range b.Devices {
		if d.Is(snvsCompatible) && len(d.Regs) > 0 {
			base = uintptr(d.Regs[0].Base)
			break
		}
	}
	if base == 0 {
		return nil, false
	}
	read := func() uint64 {
		mr := *(*uint32)(unsafe.Pointer(base + snvsLPSRTCMR))
		lr := *(*uint32)(unsafe.Pointer(base + snvsLPSRTCLR))
		return uint64(mr&0x7fff)<<32 | uint64(lr)
	}
	prev := read()
	for range snvsReads {
		cur := read()
		if cur>>snvsSRTCShift == prev>>snvsSRTCShift {
			sec := int64(cur >> snvsSRTCShift)
			if sec == 0 {
				return nil, false
			}
			at := time.Unix(sec, 0).Add(-el2.Uptime())
			return func() time.Time { return at.Add(el2.Uptime()) }, true
		}
		prev = cur
	}
	return nil, false
}
