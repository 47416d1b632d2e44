// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"testing"
	"time"
)

// TestSecondaryCPUs: on a board with two CPUs and ferry.cpus=all, Ferry
// starts the second by PSCI and runs Go there (a goroutine locked to it);
// with ferry.selftest=smp that CPU allocates and drops 256 MiB while the
// guest boots on the first, so collections stop the world across both
// CPUs (and kick the boot CPU out of the guest). The guest, which sees
// only the boot CPU, boots and counts.
func TestSecondaryCPUs(t *testing.T) {
	b := board(t, false, "")
	b.SMP = 2
	b.Words = "ferry.cpus=all ferry.selftest=smp"
	p := start(t, b)
	expect(t, p, `^ferry: cpu 1 up: MPIDR 0x1$`, 0, bootTimeout)
	expect(t, p, `^ferry: cpus: 2, Go on each \(GOMAXPROCS 2\)`, 0, 10*time.Second)
	expect(t, p, `^ferry: cpu 1: selftest: 256 MiB allocated and dropped on cpu 1 in \S+, [1-9]\d* collections`, 0, 3*bootTimeout)
	expect(t, p, `smp: Brought up 1 node, 1 CPU`, 0, bootTimeout)
	_, at := expect(t, p, counter.String(), 0, bootTimeout)
	expect(t, p, `FERRY-COUNTER id=\w+ n=3 `, at, 30*time.Second)
}
