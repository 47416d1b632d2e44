// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/cpu"
)

// firmware records forwarded calls and answers with fixed values.
type firmware struct{ calls [][8]uint64 }

func (f *firmware) call(a [8]uint64) [4]uint64 {
	f.calls = append(f.calls, a)
	return [4]uint64{0x10001, 11, 12, 13} // PSCI 1.1 and recognisable x1..x3
}

func newVCPU(f *firmware, logs *[]string) *VCPU {
	return &VCPU{MPIDR: 0x80000000, Firmware: f.call, FirmwareInfo: FirmwareInfo{PSCI: 0x10001}, Log: func(s string) { *logs = append(*logs, s) }}
}

func trapSMC(v *VCPU, fid uint64, x1 uint64) error {
	v.Ctx.ESR = cpu.ECSMC64<<26 | 1<<25
	v.Ctx.X[0], v.Ctx.X[1] = fid, x1
	return v.Dispatch(cpu.ExitSync)
}

func TestPSCIDispatch(t *testing.T) {
	cases := []struct {
		name      string
		fid, x1   uint64
		forwarded bool
		x0        uint64
		log       string
	}{
		{"version is forwarded", PSCIVersion, 0, true, 0x10001, ""},
		{"features of a forwarded call is the firmware's", PSCIFeatures, PSCIVersion, true, 0x10001, ""},
		{"features of CPU_ON is Ferry's", PSCIFeatures, PSCICPUOn64, false, PSCISuccess, ""},
		{"migrate info type is Ferry's: no Trusted OS to migrate", PSCIMigrateInfoType, 0, false, 2, ""},
		{"affinity info of this cpu: on", PSCIAffinityInfo64, 0x80000000 & cpu.MPIDRAffinity, false, 0, ""},
		{"affinity info of another cpu: invalid", PSCIAffinityInfo64, 1, false, PSCIInvalidParams, ""},
		{"cpu on of this cpu: already on", PSCICPUOn64, 0x80000000 & cpu.MPIDRAffinity, false, PSCIAlreadyOn, ""},
		{"cpu on of another cpu: invalid", PSCICPUOn64, 1, false, PSCIInvalidParams, ""},
		{"cpu on (32-bit) of another cpu: invalid", PSCICPUOn32, 0x100, false, PSCIInvalidParams, ""},
		{"cpu off of the only cpu: denied", PSCICPUOff, 0, false, PSCIDenied, "last CPU: denied"},
		{"unknown SMCCC call: not supported", 0x80000002, 0, false, NotSupported, ""},
		{"vendor call: not supported", 0xc2000000, 0, false, NotSupported, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := &firmware{}
			var logs []string
			v := newVCPU(f, &logs)
			v.Ctx.PC = 0x1000
			if err := trapSMC(v, c.fid, c.x1); err != nil {
				t.Fatal(err)
			}
			if got := len(f.calls) == 1; got != c.forwarded {
				t.Fatalf("forwarded = %v, want %v", got, c.forwarded)
			}
			if c.forwarded && (f.calls[0][0] != c.fid || f.calls[0][1] != c.x1) {
				t.Fatalf("firmware got %#x, want fid %#x x1 %#x", f.calls[0][:2], c.fid, c.x1)
			}
			if v.Ctx.X[0] != c.x0 {
				t.Fatalf("x0 = %#x, want %#x", v.Ctx.X[0], c.x0)
			}
			if c.forwarded && c.fid != PSCIFeatures && v.Ctx.X[3] != 13 {
				t.Fatalf("x3 = %d, want the firmware's 13", v.Ctx.X[3])
			}
			if v.Ctx.PC != 0x1004 {
				t.Fatalf("PC = %#x: the SMC must be stepped over", v.Ctx.PC)
			}
			if joined := strings.Join(logs, "|"); (c.log == "") != (joined == "") || !strings.Contains(joined, c.log) {
				t.Fatalf("log %q, want a line containing %q", joined, c.log)
			}
		})
	}
}

func TestHVCIsNotSupported(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	v.Ctx.PC = 0x2004 // ELR_EL2 already points past the HVC
	v.Ctx.ESR = cpu.ECHVC64<<26 | 1<<25
	v.Ctx.X[0] = 0x86000000
	if err := v.Dispatch(cpu.ExitSync); err != nil {
		t.Fatal(err)
	}
	if v.Ctx.X[0] != NotSupported || v.Ctx.PC != 0x2004 {
		t.Fatalf("x0 %#x PC %#x", v.Ctx.X[0], v.Ctx.PC)
	}
	if v.Exits()[cpu.ECHVC64] != 1 {
		t.Fatalf("exit not counted: %v", v.Exits())
	}
}

func TestUnexpectedTrapIsReported(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	v.Ctx.ESR = 0x93830006 // data abort from a lower EL
	v.Ctx.FAR, v.Ctx.HPFAR, v.Ctx.PC, v.Ctx.PSTATE = 0xffff9570a000, 0x402000, 0x4c7ed8, 0x60001000
	err := v.Dispatch(cpu.ExitSync)
	var te *TrapError
	if !errors.As(err, &te) {
		t.Fatalf("want a TrapError, got %v", err)
	}
	for _, want := range []string{"data abort from lower EL", "ESR_EL2 0x93830006", "FAR_EL2 0xffff9570a000", "HPFAR_EL2 0x402000", "ELR_EL2 0x4c7ed8", "SPSR_EL2 0x60001000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("%q lacks %q", err, want)
		}
	}
	if err := v.Dispatch(cpu.ExitIRQ); err == nil || !strings.Contains(err.Error(), "asynchronous exit 1") {
		t.Fatalf("IRQ exit: %v", err)
	}
}

// The guest's ICC_SGI1R_EL1 write (trapped under HCR_EL2.IMO) goes to
// VCPU.SGI with the value written, and the guest goes on past it.
func TestSGIWrite(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	var wrote []string
	v.SGI = func(val uint64) { wrote = append(wrote, fmt.Sprintf("ICC_SGI1R_EL1=%#x", val)) }
	// msr icc_sgi1r_el1, x3: op0=3 op1=0 CRn=12 CRm=11 op2=5, write.
	v.Ctx.ESR = cpu.ECSysReg<<26 | 1<<25 | 3<<20 | 5<<17 | 0<<14 | 12<<10 | 3<<5 | 11<<1
	v.Ctx.X[3], v.Ctx.PC = 0x10001, 0x5000
	if err := v.Dispatch(cpu.ExitSync); err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 1 || wrote[0] != "ICC_SGI1R_EL1=0x10001" || v.Ctx.PC != 0x5004 {
		t.Fatalf("wrote %v, PC %#x", wrote, v.Ctx.PC)
	}
	// Any other trapped system register (here a read of ICC_SGI1R_EL1's
	// neighbour ICC_DIR_EL1, op2=1) is not Ferry's to emulate: fatal.
	v.Ctx.ESR = cpu.ECSysReg<<26 | 1<<25 | 3<<20 | 1<<17 | 12<<10 | 11<<1 | 1
	if err := v.Dispatch(cpu.ExitSync); err == nil {
		t.Fatal("an unknown trapped system register was accepted")
	}
}

func TestDataAbortGoesToMMIO(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	var ipas []uint64
	v.MMIO = func(c *cpu.Context, esr cpu.ESR, ipa uint64) (bool, error) {
		ipas = append(ipas, ipa)
		if ipa>>12 == 0x9000 {
			c.Advance(esr)
			return true, nil
		}
		return false, nil
	}
	v.Ctx.ESR = 0x93c08047 // str to a page with a translation fault
	v.Ctx.HPFAR, v.Ctx.FAR, v.Ctx.PC = 0x9000<<4, 0xffff000012345030, 0x1000
	if err := v.Dispatch(cpu.ExitSync); err != nil || v.Ctx.PC != 0x1004 {
		t.Fatalf("handled abort: %v, PC %#x", err, v.Ctx.PC)
	}
	if len(ipas) != 1 || ipas[0] != 0x9000030 {
		t.Fatalf("IPA %#x, want 0x9000030 from HPFAR and FAR", ipas)
	}
	v.Ctx.HPFAR = 0x40200 << 4 // Ferry's carve-out: no device there
	if err := v.Dispatch(cpu.ExitSync); err == nil || !strings.Contains(err.Error(), "data abort") {
		t.Fatalf("an abort no device covers: %v", err)
	}
}

// An interrupt exit (an IRQ; an FIQ, which nothing should raise, the
// same) goes to VCPU.IRQ, counted under the cause it reports.
func TestInterruptExit(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	irqs := 0
	v.IRQ = func() Cause {
		irqs++
		return []Cause{CauseTimer, CauseMgmtNIC}[irqs%2]
	}
	for _, reason := range []uint64{cpu.ExitIRQ, cpu.ExitFIQ, cpu.ExitIRQ} {
		if err := v.Dispatch(reason); err != nil {
			t.Fatalf("interrupt exit %d: %v", reason, err)
		}
	}
	if got := v.Causes(); irqs != 3 || got["mgmt-nic"] != 2 || got["timer"] != 1 || len(got) != 2 {
		t.Fatalf("%d interrupts, causes %v; want mgmt-nic 2, timer 1", irqs, got)
	}
}

// Every exit is counted under one cause: a dirty fault as dirty, the
// same abort on a device page as MMIO, a trap Ferry cannot handle as
// its class's.
func TestExitCauses(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	v.WriteFault = func(ipa, va uint64, vaValid bool) bool { return ipa>>21 == 0x4800_0000>>21 }
	v.MMIO = func(c *cpu.Context, esr cpu.ESR, ipa uint64) (bool, error) { c.Advance(esr); return true, nil }
	const write = 0x93c0804f // str, level-3 permission fault
	for _, hpfar := range []uint64{0x48001 << 4, 0x48002 << 4, 0x9000 << 4} {
		v.Ctx.ESR, v.Ctx.HPFAR = write, hpfar
		if err := v.Dispatch(cpu.ExitSync); err != nil {
			t.Fatal(err)
		}
	}
	if err := trapSMC(v, PSCIVersion, 0); err != nil {
		t.Fatal(err)
	}
	v.Ctx.ESR = 0x3f << 26 // no handler
	if v.Dispatch(cpu.ExitSync) == nil || v.Dispatch(cpu.ExitSError) == nil {
		t.Fatal("an unhandled exit did not stop the guest")
	}
	want := map[string]uint64{"dirty": 2, "mmio": 1, "smc": 1, "other": 2}
	if got := v.Causes(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("causes %v, want %v", got, want)
	}
}

func TestExitMeter(t *testing.T) {
	e := ExitMeter{Window: time.Second}
	s := time.Duration(time.Second)
	if r, dt := e.Rates(10*s, map[string]uint64{"timer": 50, "mmio": 1000}); dt != 10*s || r["timer"] != 5 || r["mmio"] != 100 {
		t.Fatalf("since boot: %v over %v", r, dt)
	}
	// Half a second later: still measured from the same sample.
	if r, dt := e.Rates(10*s+s/2, map[string]uint64{"timer": 51, "mmio": 1000}); dt != s/2 || r["timer"] != 2 || r["mmio"] != 0 {
		t.Fatalf("half a second on: %v over %v", r, dt)
	}
	// Two seconds after the first: from it, then from this one.
	if r, dt := e.Rates(12*s, map[string]uint64{"timer": 52, "mmio": 1000, "nic": 4}); dt != 2*s || r["timer"] != 1 || r["nic"] != 2 || len(r) != 2 {
		t.Fatalf("two seconds on: %v over %v", r, dt)
	}
	if r, dt := e.Rates(16*s, map[string]uint64{"timer": 52, "mmio": 1000, "nic": 4}); dt != 4*s || len(r) != 0 {
		t.Fatalf("an idle guest: %v over %v, want no exits", r, dt)
	}
}

// A write permission fault on a tracked page goes to dirty tracking and
// returns to the guest without advancing it (the write is retried); a read
// fault, or a page tracking does not know, still goes to the devices.
func TestWriteFaultGoesToDirtyTracking(t *testing.T) {
	v, dirty, mmio := trackingVCPU()
	// str to a page with a level-3 permission fault: EC 0x24, IL, ISV, WnR, DFSC 0x0f.
	const write, read = 0x93c0804f, 0x93c0800f
	for _, tc := range []struct {
		esr   uint64
		hpfar uint64
		dirty bool
	}{
		{write, 0x48001 << 4, true},
		{write | 1<<7, 0x48002 << 4, true}, // the guest's MMU updating a descriptor (S1PTW)
		{read | 1<<7, 0x48002 << 4, true},  // the same, reported without WnR
		{read, 0x48003 << 4, false},        // a read never faults on a read-only page: a device's
		{write, 0x9000 << 4, false},        // the UART's read-only page: its model
		{0x93c08047, 0x48004 << 4, false},  // a translation fault, not permission
	} {
		*dirty, *mmio = nil, nil
		v.Ctx.ESR, v.Ctx.HPFAR, v.Ctx.FAR, v.Ctx.PC = tc.esr, tc.hpfar, 0xffff000000000123, 0x1000
		if err := v.Dispatch(cpu.ExitSync); err != nil {
			t.Fatalf("ESR %#x: %v", tc.esr, err)
		}
		ipa := tc.hpfar<<8 | 0x123
		switch {
		case tc.dirty && (len(*dirty) != 1 || (*dirty)[0] != ipa || len(*mmio) != 0 || v.Ctx.PC != 0x1000):
			t.Errorf("ESR %#x at %#x: dirty %#x, mmio %#x, PC %#x; want dirty tracking, PC unchanged", tc.esr, ipa, *dirty, *mmio, v.Ctx.PC)
		case !tc.dirty && (len(*dirty) != 0 || len(*mmio) != 1):
			t.Errorf("ESR %#x at %#x: dirty %#x, mmio %#x; want the devices", tc.esr, ipa, *dirty, *mmio)
		}
	}
}

// A trapped WFI goes to Idle and the guest resumes after it; a WFE (never
// trapped) is an error.
func TestTrappedWFI(t *testing.T) {
	var logs []string
	v := newVCPU(&firmware{}, &logs)
	idles := 0
	v.Idle = func() { idles++ }
	v.Ctx.ESR, v.Ctx.PC = cpu.ECWFx<<26|1<<25, 0x2000
	if err := v.Dispatch(cpu.ExitSync); err != nil || idles != 1 || v.Ctx.PC != 0x2004 {
		t.Fatalf("WFI: %v, %d idles, PC %#x", err, idles, v.Ctx.PC)
	}
	v.Ctx.ESR = cpu.ECWFx<<26 | 1<<25 | 1
	if err := v.Dispatch(cpu.ExitSync); err == nil || idles != 1 {
		t.Fatalf("WFE: %v, %d idles", err, idles)
	}
}

// One trap table: every exception class Ferry handles is counted under
// its own cause, never "other", and is taken by its handler; every other
// class is counted as "other" and is an undefined instruction for the
// guest, which goes on at its vector.
func TestTrapTable(t *testing.T) {
	handled := map[uint32]string{cpu.ECWFx: "wfi", cpu.ECHVC64: "hvc", cpu.ECSMC64: "smc", cpu.ECSysReg: "sysreg", cpu.ECIAbortLow: "mmio", cpu.ECDAbortLow: "mmio"}
	for ec := range uint32(64) {
		var logs []string
		v, e := faultVCPU(&logs)
		v.Idle = func() {}
		v.SGI = func(uint64) {}
		v.Ctx.PC, v.Ctx.PSTATE = 0x5000, 0x3c5
		v.Ctx.ESR = uint64(ec)<<26 | 1<<25
		switch ec {
		case cpu.ECSysReg: // msr icc_sgi1r_el1, x3
			v.Ctx.ESR |= 3<<20 | 5<<17 | 12<<10 | 3<<5 | 11<<1
		case cpu.ECIAbortLow, cpu.ECDAbortLow: // a translation fault at a device model's page
			v.Ctx.ESR |= 0x6
			v.Ctx.HPFAR = 0x9000 << 4
		}
		err := v.Dispatch(cpu.ExitSync)
		got := v.Causes()
		if want, ok := handled[ec]; ok {
			if got[want] != 1 || len(got) != 1 || err != nil {
				t.Errorf("EC %#x: causes %v (%v); want %s, the trap taken", ec, got, err, want)
			}
			continue
		}
		if err != nil || got["other"] != 1 || len(got) != 1 || e.writes != 1 || v.Ctx.PC != testVBAR+0x200 {
			t.Errorf("EC %#x: %v, causes %v, EL1 written %d times, PC %#x; want an undefined instruction at the guest's vector", ec, err, got, e.writes, v.Ctx.PC)
		}
	}
}

// A permission fault outside a stage-1 walk leaves HPFAR_EL2 UNKNOWN: its
// IPA is the guest's translation of FAR_EL2, for dirty tracking and the
// devices alike; a fault on a walk keeps HPFAR_EL2's; an address that no
// longer translates sends the guest back to retry, nothing done.
func TestPermissionFaultIPAFromFAR(t *testing.T) {
	v, dirty, mmio := trackingVCPU()
	translated := map[uint64]uint64{0xffff000000001123: 0x48005123, 0xffff000000002010: 0x9000010}
	v.Translate = func(va uint64) (uint64, bool) { ipa, ok := translated[va]; return ipa, ok }
	const write, walk = 0x93c0804f, 0x93c0804f | 1<<7
	for _, tc := range []struct {
		esr, far, hpfar uint64
		dirty, mmio     uint64 // the IPA each is given (0: not called)
	}{
		{write, 0xffff000000001123, 0xdead0 << 4, 0x48005123, 0},    // HPFAR_EL2 garbage: FAR's translation
		{write, 0xffff000000002010, 0xdead0 << 4, 0, 0x9000010},     // a read-only device page
		{walk, 0xffff000000001123, 0x48007 << 4, 0x48007123, 0},     // a walk's: HPFAR_EL2 holds it
		{write, 0xffff000000003000, 0x48001 << 4, 0, 0},             // unmapped since: retried
		{0x93c08047, 0xffff000000001123, 0x9000 << 4, 0, 0x9000123}, // translation fault: HPFAR_EL2's
	} {
		*dirty, *mmio = nil, nil
		v.Ctx.ESR, v.Ctx.FAR, v.Ctx.HPFAR, v.Ctx.PC = tc.esr, tc.far, tc.hpfar, 0x1000
		if err := v.Dispatch(cpu.ExitSync); err != nil {
			t.Fatalf("ESR %#x FAR %#x: %v", tc.esr, tc.far, err)
		}
		got := func(s []uint64) uint64 {
			if len(s) == 0 {
				return 0
			}
			return s[0]
		}
		if len(*dirty) > 1 || len(*mmio) > 1 || got(*dirty) != tc.dirty || got(*mmio) != tc.mmio {
			t.Errorf("ESR %#x FAR %#x HPFAR %#x: dirty %#x, mmio %#x; want %#x, %#x", tc.esr, tc.far, tc.hpfar, *dirty, *mmio, tc.dirty, tc.mmio)
		}
		if tc.mmio == 0 && v.Ctx.PC != 0x1000 {
			t.Errorf("ESR %#x FAR %#x: PC %#x, want the access retried", tc.esr, tc.far, v.Ctx.PC)
		}
	}
}

// trackingVCPU is a vCPU whose dirty tracking takes the 2 MiB block at
// 0x48000000 and whose device models take every other abort (stepping
// over it), each recording the IPAs it was given.
func trackingVCPU() (v *VCPU, dirty, mmio *[]uint64) {
	var logs []string
	v = newVCPU(&firmware{}, &logs)
	dirty, mmio = new([]uint64), new([]uint64)
	v.WriteFault = func(ipa, va uint64, vaValid bool) bool {
		if ipa>>21 != 0x4800_0000>>21 {
			return false
		}
		*dirty = append(*dirty, ipa)
		return true
	}
	v.MMIO = func(c *cpu.Context, esr cpu.ESR, ipa uint64) (bool, error) {
		*mmio = append(*mmio, ipa)
		c.Advance(esr)
		return true, nil
	}
	return v, dirty, mmio
}
