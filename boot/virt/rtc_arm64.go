// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package virt

import (
	"time"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/el2"
)

// rtcDR is the PL031's data register: the current time in seconds (ARM
// PrimeCell Real Time Clock (PL031) Technical Reference Manual, 3.3.1).
// QEMU starts it at the host's time (-rtc base=utc, its default).
const rtcDR = 0x000

// WallClock returns the date, read once from the board's PL031 and carried
// on by the generic timer, or ok false if the board has no RTC (the Go
// runtime's own clock starts at 1970 on the board).
func WallClock() (now func() time.Time, ok bool) {
	b := el2.Board()
	if b == nil || b.RTC.Size == 0 {
		return nil, false
	}
	sec := *(*uint32)(unsafe.Pointer(uintptr(b.RTC.Base + rtcDR)))
	if sec == 0 {
		return nil, false
	}
	base := time.Unix(int64(sec), 0).Add(-el2.Uptime())
	return func() time.Time { return base.Add(el2.Uptime()) }, true
}
