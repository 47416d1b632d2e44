// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"runtime/debug"
	"sync"
)

// No collection starts inside a switchover: from the source's pause to its
// Commit, and from the destination's stopped round to its Resumed, the
// garbage collector is off (holdGC). A collection stops every CPU twice
// and makes the allocating goroutine help mark; inside the downtime that
// is time the guest waits for. What the switchover allocates -- the last
// pages' buffers, the states -- is bounded by guest RAM's dirty pages and
// MaxStates, and collected after.
var gcHold struct {
	sync.Mutex
	n       int // switchovers holding it
	percent int // GOGC before the first
}

// holdGC turns the collector off until the returned release is called
// (once); holds nest, across concurrent migrations.
func holdGC() (release func()) {
	gcHold.Lock()
	if gcHold.n == 0 {
		gcHold.percent = debug.SetGCPercent(-1)
	}
	gcHold.n++
	gcHold.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			gcHold.Lock()
			defer gcHold.Unlock()
			if gcHold.n--; gcHold.n == 0 {
				debug.SetGCPercent(gcHold.percent)
			}
		})
	}
}
