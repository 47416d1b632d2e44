// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package el2

import (
	"time"
	_ "unsafe" // go:linkname

	"github.com/ferry-hv/ferry/cpu"
)

// nanotime is the system time in nanoseconds, from the physical counter.
//
//go:linkname nanotime runtime/goos.Nanotime
//go:nosplit
func nanotime() int64 { return cpu.Nanotime() }

// Uptime is the time since the counter started (the board's reset).
func Uptime() time.Duration { return time.Duration(nanotime()) }
