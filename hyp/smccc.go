// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import "fmt"

// SMCCC's own function IDs (Arm DEN 0028 "SMC Calling Convention", 7:
// the Arm Architecture Calls).
const (
	SMCCCVersion      = 0x80000000 // SMCCC_VERSION (7.2)
	SMCCCArchFeatures = 0x80000001 // SMCCC_ARCH_FEATURES (7.3)
	SMCCCWorkaround1  = 0x80008000 // SMCCC_ARCH_WORKAROUND_1: branch predictor invalidation (Spectre-v2, 7.5)
	SMCCCWorkaround2  = 0x80007fff // SMCCC_ARCH_WORKAROUND_2: speculative store bypass (SSBD, 7.6)
	SMCCCWorkaround3  = 0x80003fff // SMCCC_ARCH_WORKAROUND_3: branch history (Spectre-BHB, 7.7)
)

// Versions as PSCI_VERSION and SMCCC_VERSION report them (major<<16 |
// minor).
const (
	psci10  = 0x10000
	smccc11 = 0x10001
)

// smcccWorkarounds are the mitigation calls: side effects on the calling
// core only (invalidate its branch predictor or history, set its store
// bypass control), no state a migration must carry that the guest does not
// set again itself (Linux toggles WORKAROUND_2 at every kernel entry and
// exit when the firmware's mitigation is dynamic).
var smcccWorkarounds = []uint32{SMCCCWorkaround1, SMCCCWorkaround2, SMCCCWorkaround3}

// FirmwareInfo is what the board's firmware answered to Ferry's questions
// at boot: the answers Ferry passes to the guest, and which calls it may
// forward without the firmware taking an SMC it does not implement (QEMU
// 7.2 makes such an SMC UNDEFINED at EL2, a fault in Ferry).
type FirmwareInfo struct {
	PSCI  uint32 // PSCI_VERSION
	SMCCC uint32 // SMCCC_VERSION; 0: the firmware has none (SMCCC 1.0)
	// Workaround is SMCCC_ARCH_FEATURES of each ARCH_WORKAROUND call
	// (asked only of an SMCCC 1.1 firmware; NOT_SUPPORTED otherwise).
	Workaround map[uint32]uint64
}

// ProbeFirmware asks fw what it implements, as Linux does at boot
// (drivers/firmware/psci: PSCI_VERSION, then PSCI_FEATURES(SMCCC_VERSION)
// from PSCI 1.0, then SMCCC_VERSION, then ARCH_FEATURES from SMCCC 1.1):
// each call only once the previous answer says it exists.
func ProbeFirmware(fw Firmware) FirmwareInfo {
	fi := FirmwareInfo{Workaround: map[uint32]uint64{}}
	for _, w := range smcccWorkarounds {
		fi.Workaround[w] = NotSupported
	}
	if v := ret32(fw([8]uint64{PSCIVersion})); int32(v) > 0 {
		fi.PSCI = uint32(v)
	}
	if fi.PSCI < psci10 || int32(ret32(fw([8]uint64{PSCIFeatures, SMCCCVersion}))) < 0 {
		return fi
	}
	if v := ret32(fw([8]uint64{SMCCCVersion})); int32(v) >= smccc11 {
		fi.SMCCC = uint32(v)
	}
	if fi.SMCCC == 0 {
		return fi
	}
	for _, w := range smcccWorkarounds {
		fi.Workaround[w] = ret32(fw([8]uint64{SMCCCArchFeatures, uint64(w)}))
	}
	return fi
}

func (fi FirmwareInfo) String() string {
	s := fmt.Sprintf("PSCI %d.%d", fi.PSCI>>16, fi.PSCI&0xffff)
	if fi.SMCCC == 0 {
		return s + ", SMCCC 1.0 (no SMCCC_VERSION): no firmware mitigations for the guest"
	}
	s += fmt.Sprintf(", SMCCC %d.%d", fi.SMCCC>>16, fi.SMCCC&0xffff)
	for i, w := range smcccWorkarounds {
		s += fmt.Sprintf(", WORKAROUND_%d %d", i+1, int32(fi.Workaround[w]))
	}
	return s
}

// ret32 is x0 of an SMC32 call's answer: W0 sign-extended (the upper half
// of X0 is not part of the answer, DEN 0028 2.6).
func ret32(out [4]uint64) uint64 { return uint64(int64(int32(out[0]))) }

// implemented reports an ARCH_FEATURES answer saying the call exists (0 or
// more, DEN 0028 7.3.2).
func implemented(features uint64) bool { return int32(features) >= 0 }

// smcccVersion is the version Ferry tells the guest: the firmware's, at
// most 1.1 -- the convention Ferry relays (results in x0-x3; 1.2's x4-x17
// results and 1.3's SVE hint bit in the function ID it does not pass).
func (fi FirmwareInfo) smcccVersion() uint64 {
	if fi.SMCCC == 0 {
		return NotSupported
	}
	return uint64(min(fi.SMCCC, smccc11))
}

// archFeatures answers SMCCC_ARCH_FEATURES(fid): the firmware's answer for
// a workaround, NOT_SUPPORTED for anything else (Ferry offers no other
// architecture call).
func (fi FirmwareInfo) archFeatures(fid uint32) uint64 {
	if a, ok := fi.Workaround[fid]; ok && fi.SMCCC != 0 {
		return a
	}
	return NotSupported
}

// callSMCCC answers the guest's SMCCC architecture calls; ok is false for
// a function ID that is not one.
func callSMCCC(fw Firmware, fi FirmwareInfo, fid uint32, args [7]uint64) (out [4]uint64, ok bool) {
	switch fid {
	case SMCCCVersion:
		return [4]uint64{fi.smcccVersion()}, true
	case SMCCCArchFeatures:
		if fi.SMCCC == 0 {
			return [4]uint64{NotSupported}, true
		}
		return [4]uint64{fi.archFeatures(uint32(args[0]))}, true
	case SMCCCWorkaround1, SMCCCWorkaround2, SMCCCWorkaround3:
		// Forwarded only where this board's firmware said it has the
		// call: a guest moved here from a board that had it asks in vain
		// rather than make the firmware take an SMC it lacks.
		if !implemented(fi.archFeatures(fid)) {
			return [4]uint64{NotSupported}, true
		}
		var a [8]uint64
		a[0] = uint64(fid)
		copy(a[1:], args[:])
		return fw(a), true
	}
	return out, false
}
