// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"testing"
)

// tfa is a fake firmware answering as TF-A does on a board that needs
// every mitigation, and failing the test for any call it does not
// implement (QEMU 7.2 makes such an SMC UNDEFINED at EL2: Ferry would die).
type tfa struct {
	t        *testing.T
	psci     uint64
	smccc    uint64            // 0: no SMCCC_VERSION (PSCI_FEATURES says NOT_SUPPORTED)
	features map[uint32]uint64 // PSCI_FEATURES answers
	arch     map[uint32]uint64 // ARCH_FEATURES answers; a workaround is implemented if >= 0
	calls    [][8]uint64
}

func newTFA(t *testing.T) *tfa {
	return &tfa{t: t, psci: 0x10001, smccc: 0x10002,
		features: map[uint32]uint64{
			PSCIVersion: 0, PSCICPUSuspend64: 2, PSCICPUSuspend32: 2, PSCICPUOn64: 0, PSCICPUOff: 0,
			PSCISystemOff: 0, PSCISystemReset: 0, PSCIFeatures: 0, PSCIAffinityInfo64: 0,
			0xc400000e: 0, // SYSTEM_SUSPEND: Ferry does not serve it
			0xc4000012: 0, // SYSTEM_RESET2: nor this
		},
		arch: map[uint32]uint64{SMCCCWorkaround1: 0, SMCCCWorkaround2: 0, SMCCCWorkaround3: NotSupported},
	}
}

func (f *tfa) call(a [8]uint64) [4]uint64 {
	f.calls = append(f.calls, a)
	fid := uint32(a[0])
	switch fid {
	case PSCIVersion:
		return [4]uint64{f.psci}
	case PSCIFeatures:
		if uint32(a[1]) == SMCCCVersion {
			if f.smccc == 0 {
				return [4]uint64{NotSupported}
			}
			return [4]uint64{0}
		}
		if v, ok := f.features[uint32(a[1])]; ok {
			return [4]uint64{v}
		}
		return [4]uint64{NotSupported}
	case SMCCCVersion:
		if f.smccc != 0 {
			return [4]uint64{f.smccc | 0xdead_0000_0000_0000} // W0 only
		}
	case SMCCCArchFeatures:
		if f.smccc != 0 {
			if v, ok := f.arch[uint32(a[1])]; ok {
				return [4]uint64{v}
			}
			return [4]uint64{NotSupported}
		}
	case SMCCCWorkaround1, SMCCCWorkaround2, SMCCCWorkaround3:
		if v, ok := f.arch[fid]; ok && f.smccc != 0 && int32(v) >= 0 {
			return [4]uint64{0}
		}
	case PSCICPUSuspend64, PSCISystemOff:
		return [4]uint64{0}
	}
	f.t.Errorf("the firmware took an SMC it does not implement: %#x", a[:2])
	return [4]uint64{NotSupported}
}

// callGuest traps the guest's SMC fid with x1 on a VCPU over f and returns
// x0 and the calls f saw for it.
func callGuest(t *testing.T, f *tfa, fi FirmwareInfo, fid uint32, x1 uint64) (uint64, [][8]uint64) {
	t.Helper()
	var logs []string
	v := &VCPU{MPIDR: 0x80000000, Firmware: f.call, FirmwareInfo: fi, Log: func(s string) { logs = append(logs, s) }}
	n := len(f.calls)
	v.Ctx.PC = 0x1000
	if err := trapSMC(v, uint64(fid), x1); err != nil {
		t.Fatal(err)
	}
	if v.Ctx.PC != 0x1004 {
		t.Fatalf("PC %#x: the SMC must be stepped over", v.Ctx.PC)
	}
	return v.Ctx.X[0], f.calls[n:]
}

func TestProbeFirmware(t *testing.T) {
	f := newTFA(t)
	fi := ProbeFirmware(f.call)
	if fi.PSCI != 0x10001 || fi.SMCCC != 0x10002 {
		t.Fatalf("probe: %v", fi)
	}
	if fi.Workaround[SMCCCWorkaround1] != 0 || fi.Workaround[SMCCCWorkaround2] != 0 || fi.Workaround[SMCCCWorkaround3] != NotSupported {
		t.Fatalf("workarounds: %v", fi)
	}
	if want := "PSCI 1.1, SMCCC 1.2, WORKAROUND_1 0, WORKAROUND_2 0, WORKAROUND_3 -1"; fi.String() != want {
		t.Fatalf("%q, want %q", fi, want)
	}

	// QEMU's PSCI: 1.1, no SMCCC_VERSION. Only PSCI calls are made.
	q := newTFA(t)
	q.smccc = 0
	fi = ProbeFirmware(q.call)
	if fi.SMCCC != 0 || len(q.calls) != 2 || fi.Workaround[SMCCCWorkaround1] != NotSupported {
		t.Fatalf("probe of an SMCCC 1.0 firmware: %v after %d calls", fi, len(q.calls))
	}

	// PSCI 0.2 has no PSCI_FEATURES: only PSCI_VERSION is asked.
	old := newTFA(t)
	old.psci = 2
	if fi = ProbeFirmware(old.call); fi.PSCI != 2 || fi.SMCCC != 0 || len(old.calls) != 1 {
		t.Fatalf("probe of a PSCI 0.2 firmware: %v after %d calls", fi, len(old.calls))
	}
}

func TestSMCCCCalls(t *testing.T) {
	full := newTFA(t)
	fiFull := ProbeFirmware(full.call)
	bare := newTFA(t)
	bare.smccc = 0
	fiBare := ProbeFirmware(bare.call)

	cases := []struct {
		name      string
		f         *tfa
		fi        FirmwareInfo
		fid       uint32
		x1        uint64
		x0        uint64
		forwarded uint32 // the function the firmware was called with (0: none)
	}{
		{"SMCCC_VERSION: the firmware's, at most 1.1", full, fiFull, SMCCCVersion, 0, 0x10001, 0},
		{"SMCCC_VERSION of an SMCCC 1.0 firmware: not supported", bare, fiBare, SMCCCVersion, 0, NotSupported, 0},
		{"ARCH_FEATURES(WORKAROUND_1): the firmware's", full, fiFull, SMCCCArchFeatures, SMCCCWorkaround1, 0, 0},
		{"ARCH_FEATURES(WORKAROUND_2): the firmware's", full, fiFull, SMCCCArchFeatures, SMCCCWorkaround2, 0, 0},
		{"ARCH_FEATURES(WORKAROUND_3): the firmware's", full, fiFull, SMCCCArchFeatures, SMCCCWorkaround3, NotSupported, 0},
		{"ARCH_FEATURES(SOC_ID): not served", full, fiFull, SMCCCArchFeatures, 0x80000002, NotSupported, 0},
		{"ARCH_FEATURES of an SMCCC 1.0 firmware", bare, fiBare, SMCCCArchFeatures, SMCCCWorkaround1, NotSupported, 0},
		{"WORKAROUND_1 is forwarded", full, fiFull, SMCCCWorkaround1, 0, 0, SMCCCWorkaround1},
		{"WORKAROUND_2 is forwarded with its argument", full, fiFull, SMCCCWorkaround2, 1, 0, SMCCCWorkaround2},
		{"WORKAROUND_3 the firmware lacks: not forwarded", full, fiFull, SMCCCWorkaround3, 0, NotSupported, 0},
		{"WORKAROUND_1 on an SMCCC 1.0 firmware: not forwarded", bare, fiBare, SMCCCWorkaround1, 0, NotSupported, 0},
		{"PSCI_FEATURES(CPU_SUSPEND): the firmware's format", full, fiFull, PSCIFeatures, PSCICPUSuspend64, 2, PSCIFeatures},
		{"PSCI_FEATURES(SYSTEM_OFF): Ferry serves it", full, fiFull, PSCIFeatures, PSCISystemOff, 0, 0},
		{"PSCI_FEATURES(CPU_ON): Ferry serves it", full, fiFull, PSCIFeatures, PSCICPUOn64, 0, 0},
		{"PSCI_FEATURES(CPU_OFF): Ferry serves it", full, fiFull, PSCIFeatures, PSCICPUOff, 0, 0},
		{"PSCI_FEATURES(PSCI_FEATURES)", full, fiFull, PSCIFeatures, PSCIFeatures, 0, 0},
		{"PSCI_FEATURES(SYSTEM_SUSPEND): the firmware has it, Ferry does not", full, fiFull, PSCIFeatures, 0xc400000e, NotSupported, 0},
		{"PSCI_FEATURES(SYSTEM_RESET2): Ferry serves it (PSCI 1.1)", full, fiFull, PSCIFeatures, 0xc4000012, 0, 0},
		{"PSCI_FEATURES(MIGRATE_INFO_TYPE): Ferry serves it", full, fiFull, PSCIFeatures, PSCIMigrateInfoType, 0, 0},
		{"PSCI_FEATURES(AFFINITY_INFO): Ferry serves it", full, fiFull, PSCIFeatures, PSCIAffinityInfo64, 0, 0},
		{"PSCI_FEATURES(PSCI_VERSION): the firmware's", full, fiFull, PSCIFeatures, PSCIVersion, 0, PSCIFeatures},
		{"PSCI_FEATURES(SMCCC_VERSION) with SMCCC 1.1", full, fiFull, PSCIFeatures, SMCCCVersion, 0, 0},
		{"PSCI_FEATURES(SMCCC_VERSION) with SMCCC 1.0", bare, fiBare, PSCIFeatures, SMCCCVersion, NotSupported, 0},
		{"PSCI_FEATURES(vendor call)", full, fiFull, PSCIFeatures, 0xc2000000, NotSupported, 0},
		{"SYSTEM_SUSPEND: not supported", full, fiFull, 0xc400000e, 0, NotSupported, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			x0, calls := callGuest(t, c.f, c.fi, c.fid, c.x1)
			if x0 != c.x0 {
				t.Errorf("x0 = %#x, want %#x", x0, c.x0)
			}
			switch {
			case c.forwarded == 0 && len(calls) != 0:
				t.Errorf("the firmware was called: %#x", calls)
			case c.forwarded != 0 && (len(calls) != 1 || calls[0][0] != uint64(c.forwarded) || calls[0][1] != c.x1):
				t.Errorf("the firmware got %#x, want one call %#x(%#x)", calls, c.forwarded, c.x1)
			}
		})
	}
}
