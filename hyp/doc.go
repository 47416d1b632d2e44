// Package hyp is Ferry's hypervisor proper: the guest vCPU, the run loop
// (enter the guest, dispatch the exit, repeat), the trap table keyed by
// exception class, and PSCI.
//
// The policy here is host-testable: dispatch works on a cpu.Context and a
// firmware call function, so tests drive it with synthetic syndromes, and
// Control (pausing and resuming the guest between exits) is plain Go. The
// _arm64.go files touch the hardware: the Machine (stage 2, EL2 controls,
// Ferry's interrupts, the idle hook and the run loop) and the machine as a
// migration source and sink.
package hyp
