// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

// PSCI and SMCCC function IDs (Arm DEN 0022 "Power State Coordination
// Interface", 5.1; Arm DEN 0028 "SMC Calling Convention", 7).
const (
	PSCIVersion         = 0x84000000
	PSCICPUSuspend32    = 0x84000001
	PSCICPUSuspend64    = 0xc4000001
	PSCICPUOff          = 0x84000002
	PSCICPUOn32         = 0x84000003
	PSCICPUOn64         = 0xc4000003
	PSCIAffinityInfo32  = 0x84000004
	PSCIAffinityInfo64  = 0xc4000004
	PSCIMigrateInfoType = 0x84000006
	PSCISystemOff       = 0x84000008
	PSCISystemReset     = 0x84000009
	PSCIFeatures        = 0x8400000a
)

// PSCI return codes (DEN 0022, 5.2.2) and SMCCC's NOT_SUPPORTED.
const (
	PSCISuccess       = 0
	NotSupported      = ^uint64(0) // -1
	PSCIInvalidParams = ^uint64(1) // -2
	PSCIDenied        = ^uint64(2) // -3
	PSCIAlreadyOn     = ^uint64(3) // -4
)

// psciExtendedStateID is PSCI_FEATURES(CPU_SUSPEND)'s bit saying the
// power_state parameter has the extended format (DEN 0022 5.1.14).
const psciExtendedStateID = 1 << 1

// mpidrAffinity masks MPIDR_EL1's Aff3..Aff0 fields.
const mpidrAffinity = 0xff00ffffff

// Firmware issues an SMC to the board's firmware with x0..x7 and returns
// x0..x3.
type Firmware func(args [8]uint64) [4]uint64

// psciForwarded are the calls the firmware answers for the guest as it
// would for a bare-metal OS. (SYSTEM_OFF and SYSTEM_RESET are Ferry's:
// power.go.)
var psciForwarded = map[uint32]bool{
	PSCIVersion: true, PSCIAffinityInfo32: true, PSCIAffinityInfo64: true, PSCIMigrateInfoType: true,
}

// psciOwn are the PSCI calls Ferry answers itself: CPU_ON and CPU_OFF for
// a one-CPU machine, CPU_SUSPEND as a standby (isSuspend), and
// PSCI_FEATURES from this table and psciForwarded.
var psciOwn = map[uint32]bool{
	PSCICPUOn32: true, PSCICPUOn64: true, PSCICPUOff: true, PSCIFeatures: true,
	PSCICPUSuspend32: true, PSCICPUSuspend64: true,
}

// isSuspend reports CPU_SUSPEND, which Ferry serves itself, whatever the
// power state: the core waits as at the guest's WFI (VCPU.Standby) and the
// guest gets SUCCESS, a power-down request served as a standby (DEN 0022
// 5.4.2; docs/decisions.md, "The guest's CPU_SUSPEND is a standby Ferry
// serves"). Forwarded, a power-down state would have the firmware wake the
// core at the guest's entry point at the caller's exception level: EL2.
func isSuspend(fid uint32) bool { return fid == PSCICPUSuspend32 || fid == PSCICPUSuspend64 }

// psciNotes are the calls worth a line in Ferry's log, written before the
// call is carried out (the power calls' lines are the run loop's:
// power.go).
var psciNotes = map[uint32]string{
	PSCICPUOff: "guest asked to turn off its only CPU: denied",
}

// CallSMC answers the guest's SMC with function fid and arguments args
// (x1..x7) on a single-CPU board whose CPU has affinity mpidr and whose
// firmware fw answered fi at boot, and returns the guest's x0..x3. PSCI
// calls the firmware answers for a bare-metal OS are forwarded to fw;
// CPU_ON and CPU_OFF are answered for a one-CPU machine (the system power
// calls never get here: VCPU.power); PSCI_FEATURES
// advertises only what Ferry serves; the SMCCC architecture calls get the
// firmware's answers (callSMCCC); anything else is NOT_SUPPORTED.
func CallSMC(fw Firmware, fi FirmwareInfo, log func(string), fid uint32, args [7]uint64, mpidr uint64) [4]uint64 {
	if n, ok := psciNotes[fid]; ok && log != nil {
		log(n)
	}
	if out, ok := callSMCCC(fw, fi, fid, args); ok {
		return out
	}
	switch {
	case psciForwarded[fid]:
		var a [8]uint64
		a[0] = uint64(fid)
		copy(a[1:], args[:])
		return fw(a)
	case fid == PSCIFeatures:
		return [4]uint64{psciFeatures(fw, fi, uint32(args[0]))}
	case isSuspend(fid):
		// The wait is the VCPU's (Standby), after the answer.
		return [4]uint64{PSCISuccess}
	case fid == PSCICPUOn32 || fid == PSCICPUOn64:
		// One CPU: it is on, and there is no other to start.
		if args[0]&mpidrAffinity == mpidr&mpidrAffinity {
			return [4]uint64{PSCIAlreadyOn}
		}
		return [4]uint64{PSCIInvalidParams}
	case fid == PSCICPUOff:
		// Turning off the only CPU would lose the machine.
		return [4]uint64{PSCIDenied}
	default:
		return [4]uint64{NotSupported}
	}
}

// psciFeatures answers PSCI_FEATURES(q) (DEN 0022 5.1.14) from what Ferry
// serves: for a forwarded call, the firmware's answer; for CPU_SUSPEND
// the firmware's power-state format (bit 1: the guest's DTB gives its idle
// states in it) without OS-initiated mode (bit 0: Ferry does not serve
// SET_SUSPEND_MODE), the original format if the firmware cannot say; 0
// for another call Ferry answers itself, and for SMCCC_VERSION when the
// firmware has it; NOT_SUPPORTED for the rest, whatever the firmware
// implements (a call Ferry would refuse is not advertised).
func psciFeatures(fw Firmware, fi FirmwareInfo, q uint32) uint64 {
	if f, ok := powerFeature(fi, q); ok {
		return f
	}
	switch {
	case isSuspend(q) && fi.PSCI >= psci10:
		if f := ret32(fw([8]uint64{PSCIFeatures, uint64(q)})); int32(f) > 0 {
			return f & psciExtendedStateID
		}
		return PSCISuccess
	case psciForwarded[q] && fi.PSCI >= psci10:
		return ret32(fw([8]uint64{PSCIFeatures, uint64(q)}))
	case psciForwarded[q] || psciOwn[q]:
		return PSCISuccess
	case q == SMCCCVersion && fi.SMCCC != 0:
		return PSCISuccess
	}
	return NotSupported
}
