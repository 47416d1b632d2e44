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
	PSCISuccess        = 0
	NotSupported       = ^uint64(0) // -1
	PSCIInvalidParams  = ^uint64(1) // -2
	PSCIDenied         = ^uint64(2) // -3
	PSCIAlreadyOn      = ^uint64(3) // -4
	PSCIOnPending      = ^uint64(4) // -5
	PSCIInvalidAddress = ^uint64(8) // -9
)

// psciTOSNotPresent is MIGRATE_INFO_TYPE's answer that no Trusted OS
// needs migrating (DEN 0022 5.1.7: 2, "not present or does not require
// migration"): the guest's CPUs are Ferry's vCPUs, and a firmware's
// uniprocessor Trusted OS lives on a physical CPU Ferry never turns off
// for the guest.
const psciTOSNotPresent = 2

// psciExtendedStateID is PSCI_FEATURES(CPU_SUSPEND)'s bit saying the
// power_state parameter has the extended format (DEN 0022 5.1.14).
const psciExtendedStateID = 1 << 1

// Firmware issues an SMC to the board's firmware with x0..x7 and returns
// x0..x3.
type Firmware func(args [8]uint64) [4]uint64

// psciForwarded are the calls the firmware answers for the guest as it
// would for a bare-metal OS. (SYSTEM_OFF and SYSTEM_RESET are Ferry's:
// power.go.)
var psciForwarded = map[uint32]bool{PSCIVersion: true}

// psciOwn are the PSCI calls Ferry answers itself: CPU_ON, CPU_OFF and
// AFFINITY_INFO from the vCPUs' power states (cpupower.go),
// MIGRATE_INFO_TYPE, CPU_SUSPEND as a standby (isSuspend), and
// PSCI_FEATURES from this table and psciForwarded.
var psciOwn = map[uint32]bool{
	PSCICPUOn32: true, PSCICPUOn64: true, PSCICPUOff: true, PSCIFeatures: true,
	PSCIAffinityInfo32: true, PSCIAffinityInfo64: true, PSCIMigrateInfoType: true,
	PSCICPUSuspend32: true, PSCICPUSuspend64: true,
}

// isSuspend reports CPU_SUSPEND, which Ferry serves itself, whatever the
// power state: the core waits as at the guest's WFI (VCPU.Standby) and the
// guest gets SUCCESS, a power-down request served as a standby (DEN 0022
// 5.4.2; docs/decisions.md, "The guest's CPU_SUSPEND is a standby Ferry
// serves"). Forwarded, a power-down state would have the firmware wake the
// core at the guest's entry point at the caller's exception level: EL2.
func isSuspend(fid uint32) bool { return fid == PSCICPUSuspend32 || fid == PSCICPUSuspend64 }

// callSMC answers the guest's SMC with function fid and arguments args
// (x1..x7) from vCPU v, and returns the guest's x0..x3. PSCI calls the
// firmware answers for a bare-metal OS are forwarded to the board's
// firmware; the vCPUs' power calls are answered from their power states
// (cpupower.go; the system power calls never get here: VCPU.power);
// PSCI_FEATURES advertises only what Ferry serves; the SMCCC architecture
// calls get the firmware's answers (callSMCCC); anything else is
// NOT_SUPPORTED. The arguments of an SMC32 call are 32 bits (DEN 0028
// 3.1: the upper halves are ignored).
func (v *VCPU) callSMC(fid uint32, args [7]uint64) [4]uint64 {
	fw, fi := v.Firmware, v.FirmwareInfo
	if out, ok := callSMCCC(fw, fi, fid, args); ok {
		return out
	}
	if fid&smc64 == 0 {
		for i := range args {
			args[i] &= 0xffffffff
		}
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
		return [4]uint64{v.powers().on(args[0], args[1], args[2], v.InRAM)}
	case fid == PSCICPUOff:
		r := v.powers().off(v.Index)
		if r == PSCIDenied && v.Log != nil {
			v.Log("guest asked to turn off its last CPU: denied")
		}
		return [4]uint64{r}
	case fid == PSCIAffinityInfo32 || fid == PSCIAffinityInfo64:
		return [4]uint64{v.powers().affinityInfo(args[0], args[1])}
	case fid == PSCIMigrateInfoType:
		return [4]uint64{psciTOSNotPresent}
	default:
		return [4]uint64{NotSupported}
	}
}

// smc64 is the SMC64 bit of a function ID (DEN 0028 2.5: bit 30).
const smc64 = 1 << 30

// powers is the vCPUs' power states: Powers, or this vCPU alone, on.
func (v *VCPU) powers() *vcpuPowers {
	if v.Powers == nil {
		v.Powers, _ = newVCPUPowers([]uint64{v.MPIDR})
	}
	return v.Powers
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
