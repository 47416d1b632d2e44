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

// mpidrAffinity masks MPIDR_EL1's Aff3..Aff0 fields.
const mpidrAffinity = 0xff00ffffff

// Firmware issues an SMC to the board's firmware with x0..x7 and returns
// x0..x3.
type Firmware func(args [8]uint64) [4]uint64

// psciForwarded are the calls the firmware answers for the guest as it
// would for a bare-metal OS.
var psciForwarded = map[uint32]bool{
	PSCIVersion: true, PSCICPUSuspend32: true, PSCICPUSuspend64: true,
	PSCIAffinityInfo32: true, PSCIAffinityInfo64: true, PSCIMigrateInfoType: true,
	PSCIFeatures: true, PSCISystemOff: true, PSCISystemReset: true,
}

// psciNotes are the calls worth a line in Ferry's log, written before the
// call is carried out (SYSTEM_OFF and SYSTEM_RESET do not return).
var psciNotes = map[uint32]string{
	PSCISystemOff:   "guest asked for SYSTEM_OFF: powering the board off",
	PSCISystemReset: "guest asked for SYSTEM_RESET: resetting the board",
	PSCICPUOff:      "guest asked to turn off its only CPU: denied",
}

// CallPSCI answers the guest's SMC with function fid and arguments args
// (x1..x7) on a single-CPU board whose CPU has affinity mpidr, and returns
// the guest's x0..x3. Calls the firmware answers for a bare-metal OS are
// forwarded to fw; CPU_ON and CPU_OFF are answered for a one-CPU machine;
// anything else is SMCCC NOT_SUPPORTED.
func CallPSCI(fw Firmware, log func(string), fid uint32, args [7]uint64, mpidr uint64) [4]uint64 {
	if n, ok := psciNotes[fid]; ok && log != nil {
		log(n)
	}
	switch {
	case psciForwarded[fid]:
		var a [8]uint64
		a[0] = uint64(fid)
		copy(a[1:], args[:])
		return fw(a)
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
