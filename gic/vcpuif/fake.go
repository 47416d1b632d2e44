// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

// Fake is a model of a virtual CPU interface and of the guest using it,
// for tests (here and in other packages): list registers whose emptiness
// (ICH_ELRSR_EL2) and maintenance conditions (ICH_MISR_EL2: U, NP, EOI)
// follow the architecture's rules, plus the physical active state of the
// interrupts Ferry acknowledged, which the guest's deactivation of a HW
// entry ends. It is not a GIC emulator: no binary point, no Group 0.
type Fake struct {
	N       int // list registers, 1 to 16
	PREbits int // preemption bits, 5 to 7 (0: 5)
	LRs     [MaxLRs]uint64
	Hcr     uint64
	Vmcr    uint64
	Ap0r    [4]uint64
	Ap1r    [4]uint64

	// PhysActive is the physical GIC's active state: Ack sets it (Ferry
	// acknowledged the interrupt), the guest's deactivation of a HW entry
	// and Deactivate clear it.
	PhysActive [MaxINTID + 1]bool
	// Deactivated is every Deactivate, in order; GuestDeactivated every
	// physical deactivation the guest's EOI made through a HW entry.
	Deactivated, GuestDeactivated []uint32
	// Accesses counts register reads and writes.
	Accesses int
}

// NewFake returns an interface with n list registers, all free.
func NewFake(n int) *Fake { return &Fake{N: n} }

func (f *Fake) VTR() uint64 {
	f.Accesses++
	pre := f.PREbits
	if pre == 0 {
		pre = 5
	}
	return uint64(f.N-1) | uint64(pre-1)<<VTR_PREbitsShift | 4<<VTR_PRIbitsShift
}

func (f *Fake) LR(n int) uint64         { f.Accesses++; return f.LRs[n] }
func (f *Fake) SetLR(n int, v uint64)   { f.Accesses++; f.LRs[n] = v }
func (f *Fake) HCR() uint64             { f.Accesses++; return f.Hcr }
func (f *Fake) SetHCR(v uint64)         { f.Accesses++; f.Hcr = v }
func (f *Fake) VMCR() uint64            { f.Accesses++; return f.Vmcr }
func (f *Fake) SetVMCR(v uint64)        { f.Accesses++; f.Vmcr = v }
func (f *Fake) AP0R(n int) uint64       { f.Accesses++; return f.Ap0r[n] }
func (f *Fake) SetAP0R(n int, v uint64) { f.Accesses++; f.Ap0r[n] = v }
func (f *Fake) AP1R(n int) uint64       { f.Accesses++; return f.Ap1r[n] }
func (f *Fake) SetAP1R(n int, v uint64) { f.Accesses++; f.Ap1r[n] = v }

// empty is ICH_ELRSR_EL2's rule: State 0b00, and HW = 1 or EOI = 0.
func empty(lr uint64) bool { return lrState(lr) == Invalid && (lr&LR_HW != 0 || lr&LR_EOI == 0) }

func (f *Fake) ELRSR() uint64 {
	f.Accesses++
	var v uint64
	for i := range f.N {
		if empty(f.LRs[i]) {
			v |= 1 << i
		}
	}
	return v
}

func (f *Fake) MISR() uint64 {
	f.Accesses++
	var valid, pending int
	var misr uint64
	for i := range f.N {
		lr := f.LRs[i]
		if !empty(lr) {
			valid++
		}
		if s := lrState(lr); s == Pending || s == PendingActive {
			pending++
		}
		if lrState(lr) == Invalid && lr&LR_HW == 0 && lr&LR_EOI != 0 {
			misr |= MISR_EOI
		}
	}
	if f.Hcr&HCR_En == 0 {
		return 0
	}
	if f.Hcr&HCR_UIE != 0 && valid <= 1 {
		misr |= MISR_U
	}
	if f.Hcr&HCR_NPIE != 0 && pending == 0 {
		misr |= MISR_NP
	}
	return misr
}

func (f *Fake) Deactivate(intid uint32) {
	f.Accesses++
	f.PhysActive[intid] = false
	f.Deactivated = append(f.Deactivated, intid)
}

// Ack models Ferry acknowledging physical interrupt intid (ICC_IAR1_EL1).
func (f *Fake) Ack(intid uint32) { f.PhysActive[intid] = true }

// Asserted reports whether the maintenance interrupt is asserted.
func (f *Fake) Asserted() bool {
	a := f.Accesses
	defer func() { f.Accesses = a }()
	return f.MISR() != 0
}

// GuestAck is the guest reading ICV_IAR1_EL1: the most urgent pending
// Group 1 entry whose priority is below the priority mask (VPMR) and above
// the running priority (the most urgent active entry) becomes active. It
// returns its INTID, or 1023 (spurious) when there is none, or the guest
// has Group 1 disabled (VENG1).
func (f *Fake) GuestAck() uint32 {
	if f.Vmcr&VMCR_VENG1 == 0 {
		return 1023
	}
	running := 0x100
	for i := range f.N {
		if s := lrState(f.LRs[i]); s == Active || s == PendingActive {
			running = min(running, int(lrPrio(f.LRs[i])))
		}
	}
	best, at := 0x100, -1
	for i := range f.N {
		lr := f.LRs[i]
		p := int(lrPrio(lr))
		if lrState(lr) == Pending && lr&LR_Group != 0 && p < best && p < running && p < int(f.Vmcr>>VMCR_VPMRShift&0xff) {
			best, at = p, i
		}
	}
	if at < 0 {
		return 1023
	}
	f.LRs[at] = f.LRs[at]&^LR_State | uint64(Active)<<LR_StateShift
	return lrINTID(f.LRs[at])
}

// GuestEOI is the guest ending intid (ICV_EOIR1_EL1 with EOImode 0: drop
// and deactivate): its active entry loses the active state, and a HW
// entry's physical interrupt is deactivated. With no such entry
// ICH_HCR_EL2.EOIcount counts it.
func (f *Fake) GuestEOI(intid uint32) {
	for i := range f.N {
		lr := f.LRs[i]
		if s := lrState(lr); lrINTID(lr) != intid || s != Active && s != PendingActive {
			continue
		}
		f.LRs[i] = lr &^ (uint64(Active) << LR_StateShift)
		if lr&LR_HW != 0 {
			p := uint32(lr & LR_pINTID >> LR_pINTIDShift)
			f.PhysActive[p] = false
			f.GuestDeactivated = append(f.GuestDeactivated, p)
		}
		return
	}
	f.Hcr = f.Hcr&^HCR_EOIcount | (f.Hcr+1<<HCR_EOIcountShift)&HCR_EOIcount
}
