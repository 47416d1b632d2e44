// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

// IHI 0069 12, ICH_LR<n>_EL2, Interrupt Controller List Registers: one
// virtual interrupt each.
const (
	LR_vINTID      = 0xffff_ffff  // [31:0] the virtual INTID the guest sees
	LR_pINTIDShift = 32           // [44:32] the physical INTID, when HW = 1
	LR_pINTID      = 0x1fff << 32 // 13 bits: enough for any SPI or PPI
	LR_EOI         = 1 << 41      // HW = 0 only: a maintenance interrupt when the guest deactivates it
	LR_PrioShift   = 48           // [55:48] the priority
	LR_Priority    = 0xff << 48   //
	LR_Group       = 1 << 60      // 1: Group 1, a virtual IRQ; 0: Group 0, a virtual FIQ
	LR_HW          = 1 << 61      // deactivating the virtual interrupt deactivates pINTID
	LR_StateShift  = 62           // [63:62] the state
	LR_State       = 3 << 62      //
	lrDefined      = LR_State | LR_HW | LR_Group | LR_Priority | LR_pINTID | LR_vINTID
	lrNMI          = 1 << 59 // FEAT_GICv3_NMI; never set by Ferry
	lrRES0         = ^uint64(lrDefined)
	_              = lrNMI
)

// LRState is an ICH_LR<n>_EL2.State value.
type LRState uint8

// List-register states (ICH_LR<n>_EL2.State).
const (
	Invalid       LRState = 0b00 // no interrupt: the register is free
	Pending       LRState = 0b01
	Active        LRState = 0b10
	PendingActive LRState = 0b11 // never with HW = 1: the pending state is the physical GIC's
)

// LR is one list register's fields.
type LR struct {
	VINTID   uint32
	PINTID   uint32 // HW = 1 only
	HW       bool
	Group1   bool
	Priority uint8
	State    LRState
	EOI      bool // HW = 0 only
}

// Encode returns the ICH_LR<n>_EL2 value.
func (l LR) Encode() uint64 {
	v := uint64(l.VINTID) | uint64(l.Priority)<<LR_PrioShift | uint64(l.State&3)<<LR_StateShift
	if l.HW {
		v |= LR_HW | uint64(l.PINTID)<<LR_pINTIDShift&LR_pINTID
	} else if l.EOI {
		v |= LR_EOI
	}
	if l.Group1 {
		v |= LR_Group
	}
	return v
}

// DecodeLR returns the fields of an ICH_LR<n>_EL2 value.
func DecodeLR(v uint64) LR {
	l := LR{
		VINTID:   uint32(v & LR_vINTID),
		HW:       v&LR_HW != 0,
		Group1:   v&LR_Group != 0,
		Priority: uint8(v >> LR_PrioShift),
		State:    LRState(v >> LR_StateShift),
	}
	if l.HW {
		l.PINTID = uint32(v & LR_pINTID >> LR_pINTIDShift)
	} else {
		l.EOI = v&LR_EOI != 0
	}
	return l
}

func lrState(v uint64) LRState { return LRState(v >> LR_StateShift) }
func lrPrio(v uint64) uint8    { return uint8(v >> LR_PrioShift) }
func lrINTID(v uint64) uint32  { return uint32(v & LR_vINTID) }

// IHI 0069 12, ICH_HCR_EL2, Interrupt Controller Hyp Control Register.
const (
	HCR_En            = 1 << 0  // the virtual CPU interface is on
	HCR_UIE           = 1 << 1  // maintenance interrupt when at most one list register is valid
	HCR_LRENPIE       = 1 << 2  // ... while EOIcount is not 0
	HCR_NPIE          = 1 << 3  // ... when no list register is pending
	HCR_VGrp0EIE      = 1 << 4  // ... when the guest enables Group 0
	HCR_VGrp0DIE      = 1 << 5  // ... disables Group 0
	HCR_VGrp1EIE      = 1 << 6  // ... enables Group 1
	HCR_VGrp1DIE      = 1 << 7  // ... disables Group 1
	HCR_TC            = 1 << 10 // trap the guest's common ICC registers
	HCR_TALL0         = 1 << 11 // trap its Group 0 registers
	HCR_TALL1         = 1 << 12 // trap its Group 1 registers
	HCR_TSEI          = 1 << 13 // trap locally generated SEIs
	HCR_TDIR          = 1 << 14 // trap ICC_DIR_EL1
	HCR_EOIcountShift = 27      // [31:27] deactivations that matched no list register
	HCR_EOIcount      = 0x1f << 27
	// hcrKept are the bits a migration moves: the enable and the count of
	// unmatched deactivations. UIE follows from the queue (Restore sets it
	// again); the traps and the other maintenance requests Ferry never
	// sets.
	hcrKept = HCR_En | HCR_EOIcount
)

// IHI 0069 12, ICH_MISR_EL2, Interrupt Controller Maintenance Interrupt
// State Register: which maintenance conditions hold.
const (
	MISR_EOI    = 1 << 0 // a list register with EOI = 1 was deactivated (ICH_EISR_EL2 says which)
	MISR_U      = 1 << 1 // underflow: UIE and at most one valid list register
	MISR_LRENP  = 1 << 2
	MISR_NP     = 1 << 3 // NPIE and no pending list register
	MISR_VGrp0E = 1 << 4
	MISR_VGrp0D = 1 << 5
	MISR_VGrp1E = 1 << 6
	MISR_VGrp1D = 1 << 7
)

// IHI 0069 12, ICH_VMCR_EL2, Interrupt Controller Virtual Machine Control
// Register: the guest's view of ICV_PMR, ICV_BPR0/1, ICV_IGRPEN0/1 and
// ICV_CTLR.
const (
	VMCR_VENG0     = 1 << 0  // ICV_IGRPEN0_EL1.Enable
	VMCR_VENG1     = 1 << 1  // ICV_IGRPEN1_EL1.Enable
	VMCR_VAckCtl   = 1 << 2  // RES0 in GICv3 with ICC_SRE (kept for the GICv2 view)
	VMCR_VFIQEn    = 1 << 3  // likewise
	VMCR_VCBPR     = 1 << 4  // ICV_CTLR_EL1.CBPR
	VMCR_VEOIM     = 1 << 9  // ICV_CTLR_EL1.EOImode
	VMCR_VBPR1     = 7 << 18 // ICV_BPR1_EL1
	VMCR_VBPR0     = 7 << 21 // ICV_BPR0_EL1
	VMCR_VPMRShift = 24
	VMCR_VPMR      = 0xff << 24 // ICV_PMR_EL1
	vmcrDefined    = VMCR_VENG0 | VMCR_VENG1 | VMCR_VAckCtl | VMCR_VFIQEn | VMCR_VCBPR | VMCR_VEOIM |
		VMCR_VBPR1 | VMCR_VBPR0 | VMCR_VPMR
)

// IHI 0069 12, ICH_VTR_EL2, Interrupt Controller VGIC Type Register.
const (
	VTR_ListRegs     = 0x1f      // [4:0] list registers implemented, minus one
	VTR_PREbitsShift = 26        // [28:26] preemption bits, minus one
	VTR_PRIbitsShift = 29        // [31:29] priority bits, minus one
	vtrBitsMask      = 7         //
	MaxLRs           = 16        // the architecture's maximum
	MaxINTID         = 1019      // the last SPI: LPIs are never used (no ITS)
	FirstPPI         = 16        // INTIDs 0-15 are SGIs
	maxQueue         = 1020      // one queue entry per INTID at most
	queueWords       = 1024 / 64 // the queued-INTID bitmap
)

// NumLRsOf is the number of list registers an ICH_VTR_EL2 value reports.
func NumLRsOf(vtr uint64) int { return int(vtr&VTR_ListRegs) + 1 }

// NumAPRsOf is how many ICH_AP0R<n>_EL2 and ICH_AP1R<n>_EL2 registers an
// ICH_VTR_EL2 value implies: one per 32 preemption levels (5 PREbits: 1, 6: 2,
// 7: 4).
func NumAPRsOf(vtr uint64) int {
	switch int(vtr>>VTR_PREbitsShift&vtrBitsMask) + 1 {
	case 7:
		return 4
	case 6:
		return 2
	default:
		return 1
	}
}

// Regs is the virtual CPU interface of the CPU the guest runs on, seen from
// EL2, and the one physical CPU-interface operation the policy needs. The
// binding implements it with the ICH_*_EL2 and ICC_DIR_EL1 system registers;
// Fake with a model for tests. n is always below NumLRs (or NumAPRs).
type Regs interface {
	VTR() uint64           // ICH_VTR_EL2
	LR(n int) uint64       // ICH_LR<n>_EL2
	SetLR(n int, v uint64) //
	ELRSR() uint64         // ICH_ELRSR_EL2: bit n set = list register n holds no interrupt
	HCR() uint64           // ICH_HCR_EL2
	SetHCR(v uint64)       //
	MISR() uint64          // ICH_MISR_EL2
	VMCR() uint64          // ICH_VMCR_EL2
	SetVMCR(v uint64)      //
	AP0R(n int) uint64     // ICH_AP0R<n>_EL2
	SetAP0R(n int, v uint64)
	AP1R(n int) uint64 // ICH_AP1R<n>_EL2
	SetAP1R(n int, v uint64)
	// Deactivate ends a physical interrupt Ferry acknowledged and will not
	// give the guest after all (ICC_DIR_EL1, EOImode = 1).
	Deactivate(intid uint32)
}
