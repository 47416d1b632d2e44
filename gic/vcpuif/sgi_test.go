// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

import "testing"

func TestDecodeSGI1R(t *testing.T) {
	const me = 0x8000_0000                    // MPIDR_EL1 of CPU 0 (bit 31 RES1)
	const other = 1<<32 | 2<<16 | 3<<8 | 0x11 // Aff3 1, Aff2 2, Aff1 3, Aff0 17
	for _, tc := range []struct {
		name  string
		v     uint64
		mpidr uint64
		intid uint32
		self  bool
	}{
		{"Linux's self-IPI", 1 | 5<<SGI1R_INTIDShift, me, 5, true},
		{"another Aff0", 2 | 5<<SGI1R_INTIDShift, me, 5, false},
		{"IRM: everyone else", SGI1R_IRM | 0xffff | 3<<SGI1R_INTIDShift, me, 3, false},
		{"all affinities", 1<<1 | 15<<SGI1R_INTIDShift | 3<<SGI1R_Aff1Shift | 2<<SGI1R_Aff2Shift | 1<<SGI1R_Aff3Shift | 1<<SGI1R_RSShift, other, 15, true},
		{"wrong RS", 1<<1 | 3<<SGI1R_Aff1Shift | 2<<SGI1R_Aff2Shift | 1<<SGI1R_Aff3Shift, other, 0, false},
		{"wrong Aff3", 1<<1 | 3<<SGI1R_Aff1Shift | 2<<SGI1R_Aff2Shift | 1<<SGI1R_RSShift, other, 0, false},
		{"wrong Aff2", 1<<1 | 3<<SGI1R_Aff1Shift | 1<<SGI1R_Aff3Shift | 1<<SGI1R_RSShift, other, 0, false},
		{"wrong Aff1", 1<<1 | 2<<SGI1R_Aff2Shift | 1<<SGI1R_Aff3Shift | 1<<SGI1R_RSShift, other, 0, false},
	} {
		intid, self := DecodeSGI1R(tc.v, tc.mpidr)
		if intid != tc.intid || self != tc.self {
			t.Errorf("%s: %#x from %#x = %d, %v; want %d, %v", tc.name, tc.v, tc.mpidr, intid, self, tc.intid, tc.self)
		}
	}
}

func TestSGITargets(t *testing.T) {
	vcpus := []uint64{0, 1, 2, 0x100}
	for _, tc := range []struct {
		v      uint64
		sender int
		id     uint32
		want   uint64
	}{
		{3<<SGI1R_INTIDShift | 0b110, 0, 3, 0b0110},                // Aff0 1 and 2 of cluster 0
		{5<<SGI1R_INTIDShift | 1, 1, 5, 0b0001},                    // vCPU 0
		{SGI1R_IRM | 1<<SGI1R_INTIDShift, 2, 1, 0b1011},            // every vCPU but the sender
		{1<<SGI1R_Aff1Shift | 1, 0, 0, 0b1000},                     // cluster 1, Aff0 0
		{1<<SGI1R_Aff1Shift | 2, 0, 0, 0},                          // a CPU that is no vCPU
		{1<<SGI1R_RSShift | 0xffff | 6<<SGI1R_INTIDShift, 0, 6, 0}, // Aff0 16-31: none here
	} {
		id, got := SGITargets(tc.v, tc.sender, vcpus)
		if id != tc.id || got != tc.want {
			t.Errorf("%#x from %d: SGI %d to %#b, want SGI %d to %#b", tc.v, tc.sender, id, got, tc.id, tc.want)
		}
	}
}
