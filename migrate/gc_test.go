// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"runtime/debug"
	"testing"
)

// TestHoldGC: the collector is off while any switchover holds it, back
// at its setting after the last release, however often each releases.
func TestHoldGC(t *testing.T) {
	old := debug.SetGCPercent(70)
	defer debug.SetGCPercent(old)
	a := holdGC()
	b := holdGC()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GOGC %d while held, want off", got)
	}
	a()
	a()
	if got := debug.SetGCPercent(-1); got != -1 {
		t.Fatalf("GOGC %d with one hold left, want off", got)
	}
	b()
	if got := debug.SetGCPercent(70); got != 70 {
		t.Fatalf("GOGC %d after the last release, want 70", got)
	}
}
