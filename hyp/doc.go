// Package hyp is Ferry's hypervisor proper: the guest vCPU, the run loop
// (enter the guest, dispatch the exit, repeat), the trap table keyed by
// exception class, and PSCI.
//
// The policy here is host-testable: dispatch works on a cpu.Context and a
// firmware call function, so tests drive it with synthetic syndromes. Only
// run_arm64.go touches the hardware.
package hyp
