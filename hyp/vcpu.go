// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"

	"github.com/ferry-hv/ferry/cpu"
)

// VCPU is one of the guest's virtual CPUs (today the only one): its
// register block and what Ferry needs to answer its traps.
type VCPU struct {
	Ctx   cpu.Context
	MPIDR uint64 // the guest's MPIDR_EL1 (VMPIDR_EL2)
	// Index is the vCPU's number, and Powers the power states of the
	// machine's vCPUs, which answer the guest's CPU_ON, CPU_OFF and
	// AFFINITY_INFO (nil: this vCPU alone, on).
	Index    int
	Powers   *vcpuPowers
	Firmware Firmware // the board's SMC conduit
	// FirmwareInfo is what the firmware answered at boot
	// (ProbeFirmware): which SMCCC calls are passed to it.
	FirmwareInfo FirmwareInfo
	Log          func(string)

	// MMIO emulates a trapped access to a device page at ipa, returning
	// false when no device model covers ipa (nil: none trapped).
	MMIO func(c *cpu.Context, esr cpu.ESR, ipa uint64) (bool, error)
	// WriteFault takes a stage-2 permission fault on a write to guest RAM
	// that dirty tracking caused: it marks the page dirty, makes it
	// writable and returns true; false if ipa is not a tracked page (nil:
	// no tracking). The guest then retries its write. va is the virtual
	// address written when vaValid (a store with FAR_EL2 valid; not a
	// stage-1 walk's descriptor update).
	WriteFault func(ipa, va uint64, vaValid bool) bool
	// Idle takes a WFI the guest executed while Ferry traps them
	// (HCR_EL2.TWI, during a migration); the guest resumes after it.
	Idle func()
	// Standby waits, after the guest's CPU_SUSPEND, as its WFI would: until
	// an interrupt it would take, or one of Ferry's (nil: the suspend ends
	// at once, as a standby may).
	Standby func()
	// IRQ handles an interrupt exit (every physical interrupt is taken at
	// EL2: HCR_EL2.IMO) and says what it was.
	IRQ func() Cause
	// SGI takes the guest's trapped ICC_SGI1R_EL1/ICC_ASGI1R_EL1 write
	// (nil: the write is undefined for the guest).
	SGI func(v uint64)
	// InRAM reports an IPA in guest RAM (nil: none is). A stage-2 abort
	// outside it, that no device model takes, is the guest's (inject.go).
	InRAM func(ipa uint64) bool
	// EL1 reads and writes the guest's EL1 exception registers, for an
	// exception Ferry gives it (nil: it cannot, and such a trap stops
	// the guest).
	EL1 cpu.EL1Access
	// IDs is the CPU as the guest sees it, answering its trapped ID
	// register reads (idregs.go; nil: none are trapped).
	IDs *cpu.IDView
	// Translate is the guest's own stage-1 translation of a virtual
	// address it read (AT S1E1R), with ok false when it does not
	// translate: the IPA of a stage-2 permission fault, for which the ARM
	// ARM leaves HPFAR_EL2 UNKNOWN (faultIPA). Nil: HPFAR_EL2 is taken as
	// it is (QEMU's TCG writes it for every stage-2 fault).
	Translate func(va uint64) (ipa uint64, ok bool)

	abortIPA uint64     // the IPA of the abort being handled (faultIPA)
	exits    [64]uint64 // exits per exception class
	causes   exitCounts
	faults   faultLog
}

// Causes returns the exits so far by cause (Cause's names).
func (v *VCPU) Causes() map[string]uint64 { return v.causes.Counts() }

// CauseTimes returns the nanoseconds Ferry spent handling those exits, by
// cause (Dispatch, as its caller times it with Took).
func (v *VCPU) CauseTimes() map[string]uint64 { return v.causes.Times() }

// Took adds ns, the time the latest exit took to handle, to its cause's.
func (v *VCPU) Took(ns int64) { v.causes.took(ns) }

// Exits returns how many synchronous exits each exception class caused.
func (v *VCPU) Exits() map[uint32]uint64 {
	m := map[uint32]uint64{}
	for ec, n := range v.exits {
		if n > 0 {
			m[uint32(ec)] = n
		}
	}
	return m
}

// TrapError is an exit Ferry has no handler for. Its message carries
// everything needed to understand it.
type TrapError struct {
	Reason uint64
	ESR    cpu.ESR
	FAR    uint64
	HPFAR  uint64
	PC     uint64
	PSTATE uint64
}

func (e *TrapError) Error() string {
	if e.Reason != cpu.ExitSync {
		return fmt.Sprintf("unexpected asynchronous exit %d at ELR_EL2 %#x", e.Reason, e.PC)
	}
	return fmt.Sprintf("unexpected trap: %v, ESR_EL2 %#x, FAR_EL2 %#x, HPFAR_EL2 %#x, ELR_EL2 %#x, SPSR_EL2 %#x",
		e.ESR, uint64(e.ESR), e.FAR, e.HPFAR, e.PC, e.PSTATE)
}

// trap is how Ferry takes one exception class of the guest's
// synchronous exits: the cause they are counted under (exits.go) and the
// handler.
type trap struct {
	cause  Cause
	handle func(v *VCPU) error
}

// traps is the trap table, indexed by exception class (ESR_EL2.EC, six
// bits). A class without a handler is one Ferry does not take: counted as
// CauseOther, it is an undefined instruction for the guest. An abort is
// dirty tracking's before it is its handler's (Dispatch).
var traps = [64]trap{
	cpu.ECWFx:       {CauseWFI, (*VCPU).wfx},
	cpu.ECHVC64:     {CauseHVC, (*VCPU).hvc},
	cpu.ECSMC64:     {CauseSMC, (*VCPU).smc},
	cpu.ECSysReg:    {CauseSysReg, (*VCPU).sysReg},
	cpu.ECIAbortLow: {CauseMMIO, (*VCPU).instructionAbort},
	cpu.ECDAbortLow: {CauseMMIO, (*VCPU).dataAbort},
}

// wfx handles a trapped WFI: the guest has nothing to do until its next
// interrupt; Idle may use the time. ELR_EL2 points at the WFI itself.
// WFE is never trapped (HCR_EL2.TWE is clear).
func (v *VCPU) wfx() error {
	if v.Idle == nil || cpu.ESR(v.Ctx.ESR).ISS()&1 != 0 {
		return v.trapError(cpu.ExitSync)
	}
	v.Ctx.Advance(cpu.ESR(v.Ctx.ESR))
	v.Idle()
	return nil
}

// Dispatch handles one exit of the guest; a non-nil error means the machine
// cannot go on.
func (v *VCPU) Dispatch(reason uint64) error {
	esr := cpu.ESR(v.Ctx.ESR)
	if (reason == cpu.ExitFIQ || reason == cpu.ExitIRQ) && v.IRQ != nil {
		v.causes.add(v.IRQ())
		return nil
	}
	if reason != cpu.ExitSync {
		v.causes.add(CauseOther)
		return v.trapError(reason)
	}
	ec := esr.EC() % uint32(len(traps))
	v.exits[ec]++
	t := traps[ec]
	if t.handle == nil {
		// An exception class Ferry does not handle: the guest gets an
		// undefined instruction, reported (the trap's decoded syndrome).
		v.causes.add(CauseOther)
		if v.undefined() {
			return nil
		}
		return v.trapError(reason)
	}
	if ec == cpu.ECDAbortLow || ec == cpu.ECIAbortLow {
		ipa, ok := v.faultIPA()
		switch {
		case !ok:
			// The guest's tables no longer translate the address:
			// it retries the access, and faults again if it must.
			v.causes.add(t.cause)
			return nil
		case v.dirtyFault(ipa):
			v.causes.add(CauseDirty)
			return nil
		}
		v.abortIPA = ipa
	}
	v.causes.add(t.cause)
	return t.handle(v)
}

// faultIPA is the IPA a stage-2 abort faulted at. HPFAR_EL2 holds it for
// a translation, access flag or address size fault, and for any fault on
// a stage-1 table walk; for a permission fault elsewhere the ARM ARM
// leaves HPFAR_EL2 UNKNOWN (D23.2 HPFAR_EL2), so the IPA is the guest's
// own stage-1 translation of FAR_EL2, as KVM's __get_fault_info finds it.
// Dirty tracking (write-protected RAM) and read-only device pages fault
// so. ok false: the guest's tables no longer translate FAR_EL2 (the
// guest retries).
func (v *VCPU) faultIPA() (ipa uint64, ok bool) {
	da := cpu.DecodeDataAbort(cpu.ESR(v.Ctx.ESR)) // the same bits for an instruction abort
	if v.Translate == nil || !da.IsPermissionFault() || da.S1PTW || !da.FARValid {
		return cpu.HPFARToIPA(v.Ctx.HPFAR, v.Ctx.FAR), true
	}
	return v.Translate(v.Ctx.FAR)
}

func (v *VCPU) trapError(reason uint64) error {
	return &TrapError{Reason: reason, ESR: cpu.ESR(v.Ctx.ESR), FAR: v.Ctx.FAR, HPFAR: v.Ctx.HPFAR, PC: v.Ctx.PC, PSTATE: v.Ctx.PSTATE}
}

// smc handles an SMC trapped by HCR_EL2.TSC: ELR_EL2 points at the SMC
// itself, so the PC is advanced past it.
func (v *VCPU) smc() error {
	c := &v.Ctx
	var args [7]uint64
	copy(args[:], c.X[1:8])
	fid := uint32(c.X[0])
	if done, err := v.power(fid, args); done {
		return err // SYSTEM_OFF, SYSTEM_RESET: the run loop's (power.go)
	}
	out := v.callSMC(fid, args)
	copy(c.X[0:4], out[:])
	c.Advance(cpu.ESR(c.ESR))
	if isSuspend(fid) && v.Standby != nil {
		v.Standby()
	}
	return nil
}

// hvc answers every hypercall with SMCCC NOT_SUPPORTED: Ferry offers the
// guest no hypercall interface. ELR_EL2 already points past the HVC.
func (v *VCPU) hvc() error {
	v.Ctx.X[0] = NotSupported
	return nil
}

// sgiSysRegs are the guest's Group 1 SGI generation registers, whose
// writes trap because Ferry sets HCR_EL2.IMO (IHI 0069 12.2,
// "ICC_SGI1R_EL1 ... trapped to EL2 when HCR_EL2.FMO or IMO is 1"): Ferry
// takes them (VCPU.SGI).
var sgiSysRegs = map[[5]uint32]string{
	{3, 0, 12, 11, 5}: "ICC_SGI1R_EL1",
	{3, 0, 12, 11, 6}: "ICC_ASGI1R_EL1",
}

func (v *VCPU) sysReg() error {
	a := cpu.DecodeSysReg(cpu.ESR(v.Ctx.ESR))
	if v.idRead(a) {
		return nil
	}
	_, ok := sgiSysRegs[[5]uint32{a.Op0, a.Op1, a.CRn, a.CRm, a.Op2}]
	if !ok || a.Read || v.SGI == nil {
		// A register Ferry traps and does not emulate (ICC_SGI0R_EL1,
		// Group 0's SGIs, say): undefined for the guest, as KVM does.
		if v.undefined() {
			return nil
		}
		return v.trapError(cpu.ExitSync)
	}
	var val uint64
	if a.Reg != cpu.RegZR {
		val = v.Ctx.X[a.Reg]
	}
	v.SGI(val)
	v.Ctx.Advance(cpu.ESR(v.Ctx.ESR))
	return nil
}

// dirtyFault reports a permission fault that dirty tracking took: a write,
// or a stage-1 table walk that faults (a walk only reads, so a permission
// fault on one is the MMU writing a descriptor's access or dirty flag;
// KVM's kvm_is_write_fault reasons the same way). The same syndrome bits
// describe instruction aborts.
func (v *VCPU) dirtyFault(ipa uint64) bool {
	esr := cpu.ESR(v.Ctx.ESR)
	if v.WriteFault == nil || esr.EC() == cpu.ECIAbortLow && esr.ISS()&(1<<7) == 0 {
		return false // an instruction fetch faults for tracking only in its stage-1 walk (S1PTW)
	}
	da := cpu.DecodeDataAbort(esr)
	return da.IsPermissionFault() && (da.Write || da.S1PTW) && v.WriteFault(ipa, v.Ctx.FAR, da.FARValid && !da.S1PTW)
}

// instructionAbort takes a fetch outside guest RAM -- from a hole, a
// device, Ferry's carve-out -- as the guest's: it gets an external abort.
// Ferry maps every page of guest RAM executable, and the one instruction
// abort it expects there -- a fetch whose stage-1 walk met a
// write-protected descriptor page (the MMU updating its access flag) --
// Dispatch has already given to dirty tracking; any other in RAM is
// Ferry's and stops the guest.
func (v *VCPU) instructionAbort() error {
	if v.externalAbort(v.abortIPA) {
		return nil
	}
	return v.trapError(cpu.ExitSync)
}

// dataAbort hands a stage-2 fault that dirty tracking did not take (in
// Dispatch: a write to a write-protected RAM page, the guest's own or its
// MMU's updating a descriptor) to the trapped-MMIO devices; a fault
// neither covers is the guest's when it is outside guest RAM (an external
// abort), else Ferry's (fatal). An access a device model cannot emulate
// stops the guest, reported.
func (v *VCPU) dataAbort() error {
	ipa := v.abortIPA
	handled := false
	if v.MMIO != nil {
		var err error
		if handled, err = v.MMIO(&v.Ctx, cpu.ESR(v.Ctx.ESR), ipa); err != nil {
			return fmt.Errorf("%w (%v)", err, v.trapError(cpu.ExitSync))
		}
	}
	if handled || v.externalAbort(ipa) {
		return nil
	}
	return v.trapError(cpu.ExitSync)
}
