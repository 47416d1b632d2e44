// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

import "fmt"

// defined in sve_arm64.s
func sveVL() uint64
func svePredSave(buf *byte)
func svePredLoad(buf *byte)

// ReadGuestIDs reads this CPU's ID registers and returns the guest's view
// of them (idregs.go).
func ReadGuestIDs() *IDView {
	return GuestIDs(func(name string) uint64 { return sysRegReaders[name]() })
}

// GuestFeatures reports the optional register sets of this CPU the guest
// sees, the ones its State carries: SME is hidden (ReadGuestIDs), and its
// SMCR_EL1 is then Ferry's to leave alone (CPTR_EL2.TSM traps it, at EL2
// too).
func GuestFeatures() Features { return ReadGuestIDs().Features() }

func readAll(names []string) []uint64 {
	v := make([]uint64, len(names))
	for i, n := range names {
		v[i] = sysRegReaders[n]()
	}
	return v
}

func writeAll(names []string, v []uint64) {
	for i, n := range names {
		sysRegWriters[n](v[i])
	}
}

// Capture reads the guest's CPU state. The guest must be stopped at an exit
// (c is its register block): its EL1 registers are then still in the CPU.
func Capture(c *Context) *State {
	s := &State{Ctx: *c, Features: GuestFeatures(), MIDR: ReadVPIDR_EL2(), MPIDR: ReadVMPIDR_EL2()}
	s.Ctx.ESR, s.Ctx.FAR, s.Ctx.HPFAR, s.Ctx.host = 0, 0, 0, [4]uint64{}
	s.SysRegs = readAll(SysRegNames)
	if s.Features&FeatPAuth != 0 {
		s.PAuth = readAll(PAuthKeyNames)
	}
	if s.Features&FeatSVE != 0 {
		s.ZCR = ReadZCR_EL1()
		s.SVEVL = uint32(sveVL())
		s.SVEPred = make([]byte, SVEPredSlots*MaxSVEVL/8)
		svePredSave(&s.SVEPred[0])
		s.SVEPred = s.SVEPred[:SVEPredSlots*int(s.SVEVL)/8]
	}
	if s.Features&FeatSME != 0 {
		s.SMCR = ReadSMCR_EL1()
	}
	s.Debug = captureDebug()
	return s
}

// captureDebug reads the guest's self-hosted debug state (Debug).
func captureDebug() Debug {
	brps, wrps, doubleLock := Breakpoints(ReadID_AA64DFR0_EL1())
	d := Debug{
		MDCCINT: ReadMDCCINT_EL1(),
		OSLK:    ReadOSLSR_EL1()&OSLSR_OSLK != 0,
	}
	d.SetDebugRegs(brps, wrps, readAll(DebugReadNames(brps, wrps)))
	if doubleLock {
		d.OSDLR = ReadOSDLR_EL1()
	}
	return d
}

// CaptureTimer reads the guest's generic timer, stopped at an exit.
func CaptureTimer() Timer {
	pct := ReadCNTPCT_EL0()
	return Timer{
		VirtCount:  pct - ReadCNTVOFF_EL2(),
		CNTV_CTL:   ReadCNTV_CTL_EL0(),
		CNTV_CVAL:  ReadCNTV_CVAL_EL0(),
		CNTP_CTL:   ReadCNTP_CTL_EL0(),
		CNTP_Delta: ReadCNTP_CVAL_EL0() - pct,
	}
}

// RestoreTimer loads t into this CPU. The guest's virtual counter
// continues from t.VirtCount: it does not see the time the machine spent
// moving.
func RestoreTimer(t Timer) { RestoreTimerAt(t, ReadCNTPCT_EL0()-t.VirtCount) }

// RestoreTimerAt loads t into this CPU with the virtual offset voff
// (CNTVOFF_EL2): a guest's other CPUs take the offset its first one's
// RestoreTimer set, so that every CPU reads one virtual count.
func RestoreTimerAt(t Timer, voff uint64) {
	pct := ReadCNTPCT_EL0()
	WriteCNTVOFF_EL2(voff)
	WriteCNTV_CVAL_EL0(t.CNTV_CVAL)
	WriteCNTV_CTL_EL0(t.CNTV_CTL)
	WriteCNTP_CVAL_EL0(pct + t.CNTP_Delta)
	WriteCNTP_CTL_EL0(t.CNTP_CTL)
}

// Restore loads s into this CPU and the guest's register block c.
func Restore(s *State, c *Context) error {
	if miss := s.Features &^ GuestFeatures(); miss != 0 {
		return fmt.Errorf("cpu state needs features %#x this CPU lacks", uint32(miss))
	}
	debug, err := s.Debug.DebugWrites(Breakpoints(ReadID_AA64DFR0_EL1()))
	if err != nil {
		return err
	}
	host := c.host
	*c = s.Ctx
	c.host = host
	writeAll(SysRegNames, s.SysRegs)
	if s.Features&FeatPAuth != 0 {
		writeAll(PAuthKeyNames, s.PAuth)
	}
	if s.Features&FeatSVE != 0 {
		if vl := uint32(sveVL()); vl != s.SVEVL {
			return fmt.Errorf("cpu state: SVE predicates saved at a %d-byte vector length, this CPU runs %d", s.SVEVL, vl)
		}
		WriteZCR_EL1(s.ZCR)
		buf := make([]byte, SVEPredSlots*MaxSVEVL/8)
		copy(buf, s.SVEPred)
		svePredLoad(&buf[0])
	}
	if s.Features&FeatSME != 0 {
		WriteSMCR_EL1(s.SMCR)
	}
	WriteVPIDR_EL2(s.MIDR)
	WriteVMPIDR_EL2(s.MPIDR)
	for _, w := range debug {
		sysRegWriters[w.Name](w.Value)
	}
	return nil
}

// WriteSysReg writes the named register (one of the table's); it reports
// false for a name it does not know.
func WriteSysReg(name string, v uint64) bool {
	w, ok := sysRegWriters[name]
	if ok {
		w(v)
	}
	return ok
}
