// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import "testing"

func TestGuardPriorityEnabled(t *testing.T) {
	f := NewFake(224)
	g, guest := group1Guard(t, f)
	guest.sw(sgi(GICR_IPRIORITYRn+24), 0xa0<<24) // PPI 27: the guest's timer
	guest.sw(sgi(GICR_ISENABLER0), 1<<27|1<<5)
	guest.dw(GICD_IPRIORITYRn+32, 0x90<<8) // SPI 33
	guest.dw(GICD_ISENABLERn+4, 1<<1)
	for _, tc := range []struct {
		id      uint32
		prio    uint8
		enabled bool
	}{
		{27, 0xa0, true}, {5, 0, true}, {33, 0x90, true}, {34, 0, false},
		{tick, OwnedPriority, true}, {1020, 0, false},
	} {
		if p, e := g.Priority(tc.id), g.Enabled(tc.id); p != tc.prio || e != tc.enabled {
			t.Errorf("INTID %d: priority %#x enabled %v, want %#x %v", tc.id, p, e, tc.prio, tc.enabled)
		}
	}
}
