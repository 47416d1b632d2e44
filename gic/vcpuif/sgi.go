// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

// IHI 0069 12, ICC_SGI1R_EL1, Interrupt Controller Software Generated
// Interrupt Group 1 Register (ICC_ASGI1R_EL1 has the same layout).
const (
	SGI1R_TargetList = 0xffff  // [15:0] a bit per Aff0 value RS*16+n
	SGI1R_Aff1Shift  = 16      // [23:16]
	SGI1R_INTIDShift = 24      // [27:24] the SGI
	SGI1R_Aff2Shift  = 32      // [39:32]
	SGI1R_IRM        = 1 << 40 // 1: every PE but the sender
	SGI1R_RSShift    = 44      // [47:44] which 16 Aff0 values TargetList covers
	SGI1R_Aff3Shift  = 48      // [55:48]
)

// MPIDR_EL1's affinity fields (ARM ARM D23.2 MPIDR_EL1).
const (
	mpidrAff1Shift = 8
	mpidrAff2Shift = 16
	mpidrAff3Shift = 32
)

// DecodeSGI1R reads a write of v to ICC_SGI1R_EL1 by the vCPU whose
// MPIDR_EL1 is mpidr: the SGI it raises, and whether it targets that vCPU
// -- the guest's only CPU, so nothing else is ever targeted. With IRM = 1
// ("every PE but me") it targets nobody.
func DecodeSGI1R(v, mpidr uint64) (intid uint32, self bool) {
	intid = uint32(v>>SGI1R_INTIDShift) & 0xf
	if v&SGI1R_IRM != 0 {
		return intid, false
	}
	aff := func(v uint64, sh uint) uint64 { return v >> sh & 0xff }
	if aff(v, SGI1R_Aff3Shift) != aff(mpidr, mpidrAff3Shift) ||
		aff(v, SGI1R_Aff2Shift) != aff(mpidr, mpidrAff2Shift) ||
		aff(v, SGI1R_Aff1Shift) != aff(mpidr, mpidrAff1Shift) {
		return intid, false
	}
	aff0 := mpidr & 0xff
	if v>>SGI1R_RSShift&0xf != aff0/16 {
		return intid, false
	}
	return intid, v&SGI1R_TargetList&(1<<(aff0%16)) != 0
}

// SGITargets reads a write of v to ICC_SGI1R_EL1 by vCPU sender of a guest
// whose vCPUs have the affinities vcpus (at most 64): the SGI it raises and
// the vCPUs it targets, a bit per index. With IRM = 1 that is every vCPU
// but the sender.
func SGITargets(v uint64, sender int, vcpus []uint64) (intid uint32, targets uint64) {
	intid = uint32(v>>SGI1R_INTIDShift) & 0xf
	for i, mpidr := range vcpus[:min(len(vcpus), 64)] {
		if v&SGI1R_IRM != 0 {
			if i != sender {
				targets |= 1 << i
			}
			continue
		}
		if _, self := DecodeSGI1R(v, mpidr); self {
			targets |= 1 << i
		}
	}
	return intid, targets
}
