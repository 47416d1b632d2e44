// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

// Distributor registers: offsets from GICD_base (ARM IHI 0069, 12.8 "The
// GIC Distributor register map" and 12.9 "The GIC Distributor register
// descriptions"). An "n" register is an array of 32-bit words: the word for
// INTID i is at the base plus 4*(i/k), k INTIDs per word (32 for one bit per
// INTID, 16 for ICFGR, 4 for IPRIORITYR). With affinity routing enabled the
// words for INTIDs 0-31 are RAZ/WI here: those live in the redistributor.
const (
	GICD_CTLR        = 0x0000 // Distributor Control Register
	GICD_TYPER       = 0x0004 // Interrupt Controller Type Register
	GICD_SETSPI_NSR  = 0x0040 // Set SPI Pending (non-secure access): write an INTID, [12:0]
	GICD_CLRSPI_NSR  = 0x0048 // Clear SPI Pending (non-secure access)
	GICD_SETSPI_SR   = 0x0050 // Set SPI Pending (secure access; with DS = 1 any access)
	GICD_CLRSPI_SR   = 0x0058 // Clear SPI Pending (secure access)
	GICD_IGROUPRn    = 0x0080 // Interrupt Group Registers, 1 bit per INTID
	GICD_ISENABLERn  = 0x0100 // Interrupt Set-Enable Registers
	GICD_ICENABLERn  = 0x0180 // Interrupt Clear-Enable Registers
	GICD_ISPENDRn    = 0x0200 // Interrupt Set-Pending Registers
	GICD_ICPENDRn    = 0x0280 // Interrupt Clear-Pending Registers
	GICD_ISACTIVERn  = 0x0300 // Interrupt Set-Active Registers
	GICD_ICACTIVERn  = 0x0380 // Interrupt Clear-Active Registers
	GICD_IPRIORITYRn = 0x0400 // Interrupt Priority Registers, 1 byte per INTID
	GICD_ITARGETSRn  = 0x0800 // Interrupt Processor Targets (RES0 with affinity routing)
	GICD_ICFGRn      = 0x0C00 // Interrupt Configuration Registers, 2 bits per INTID
	GICD_IGRPMODRn   = 0x0D00 // Interrupt Group Modifier Registers, 1 bit per INTID
	GICD_CPENDSGIRn  = 0x0F10 // SGI Clear-Pending (RAZ/WI with affinity routing)
	GICD_SPENDSGIRn  = 0x0F20 // SGI Set-Pending (RAZ/WI with affinity routing)
	GICD_IROUTERn    = 0x6000 // Interrupt Routing Registers, 64 bits per INTID: INTID i at 0x6000 + 8*i, i = 32..1019
)

// GICD_CTLR fields when the GIC supports a single Security state or
// GICD_CTLR.DS is 1 (IHI 0069 12.9, GICD_CTLR), as on QEMU's virt board.
const (
	CTLR_EnableGrp0 = 1 << 0  // Group 0 interrupts forwarded (Ferry's timer and NIC)
	CTLR_EnableGrp1 = 1 << 1  // Group 1 interrupts forwarded (the guest's)
	CTLR_ARE        = 1 << 4  // affinity routing enabled
	CTLR_DS         = 1 << 6  // Disable Security: a single Security state
	CTLR_RWP        = 1 << 31 // Register Write Pending (read only)

	distCTLRKept = CTLR_EnableGrp0 | CTLR_EnableGrp1 | CTLR_ARE | CTLR_DS // what State keeps
)

// GICD_TYPER fields (IHI 0069 12.9, GICD_TYPER).
const (
	TYPER_ITLinesNumber = 0x1f    // [4:0]: the highest SPI INTID is 32*(N+1)-1
	TYPER_ESPI          = 1 << 8  // extended SPI range implemented
	TYPER_LPIS          = 1 << 17 // LPIs supported
)

// SETSPI_INTID is the INTID field of GICD_SETSPI_NSR, GICD_CLRSPI_NSR,
// GICD_SETSPI_SR and GICD_CLRSPI_SR (IHI 0069 12.9, GICD_SETSPI_NSR: INTID
// in [12:0], the rest RES0).
const SETSPI_INTID = 0x1fff

// GICD_IROUTER<n> fields (IHI 0069 12.9, GICD_IROUTER<n>): Aff0-Aff2 in
// [23:0], Interrupt_Routing_Mode in [31], Aff3 in [39:32]; the rest RES0.
const (
	IROUTER_IRM   = 1 << 31
	irouterFields = 0xff_0000_0000 | IROUTER_IRM | 0xff_ffff
)

// Redistributor registers: offsets from RD_base (IHI 0069, 12.10 "The GIC
// Redistributor register map" and 12.11 descriptions). A redistributor is
// two 64 KiB frames: RD_base, then SGI_base at RD_base + 0x10000; the SGI
// and PPI registers are given here as offsets from RD_base.
const (
	GICR_CTLR  = 0x0000 // Redistributor Control Register
	GICR_TYPER = 0x0008 // Redistributor Type Register (64 bits)
	GICR_WAKER = 0x0014 // Redistributor Wake Register
	// GICR_TYPER_Last says the redistributor is its region's last (IHI
	// 0069 12.11.35): software walking the frames stops there.
	GICR_TYPER_Last = 1 << 4
	// GICR_PROPBASER and GICR_PENDBASER (64 bits each) point the
	// redistributor at the LPI configuration and pending tables in memory,
	// which it reads and writes itself (IHI 0069 12.11).
	GICR_PROPBASER = 0x0070
	GICR_PENDBASER = 0x0078
	GICR_SGIBase   = 0x10000 // the SGI_base frame, after RD_base (IHI 0069 12.10)
	// GICR_FrameSize is one redistributor's RD_base and SGI_base frames
	// (GICv3 without virtual LPIs, IHI 0069 12.10).
	GICR_FrameSize = 2 * GICR_SGIBase

	GICR_IGROUPR0    = GICR_SGIBase + 0x0080 // Interrupt Group Register 0 (SGIs and PPIs)
	GICR_ISENABLER0  = GICR_SGIBase + 0x0100 // Interrupt Set-Enable Register 0
	GICR_ICENABLER0  = GICR_SGIBase + 0x0180 // Interrupt Clear-Enable Register 0
	GICR_ISPENDR0    = GICR_SGIBase + 0x0200 // Interrupt Set-Pending Register 0
	GICR_ICPENDR0    = GICR_SGIBase + 0x0280 // Interrupt Clear-Pending Register 0
	GICR_ISACTIVER0  = GICR_SGIBase + 0x0300 // Interrupt Set-Active Register 0
	GICR_ICACTIVER0  = GICR_SGIBase + 0x0380 // Interrupt Clear-Active Register 0
	GICR_IPRIORITYRn = GICR_SGIBase + 0x0400 // Interrupt Priority Registers 0-7 (0x400-0x41C)
	GICR_ICFGR0      = GICR_SGIBase + 0x0C00 // SGI Configuration Register (read only: SGIs are edge)
	GICR_ICFGR1      = GICR_SGIBase + 0x0C04 // PPI Configuration Register
	GICR_IGRPMODR0   = GICR_SGIBase + 0x0D00 // Interrupt Group Modifier Register 0
)

// GICR_CTLR fields (IHI 0069 12.11, GICR_CTLR).
const (
	GICR_CTLR_EnableLPIs = 1 << 0
	GICR_CTLR_RWP        = 1 << 3
	GICR_CTLR_DPG0       = 1 << 24
	GICR_CTLR_DPG1NS     = 1 << 25
	GICR_CTLR_DPG1S      = 1 << 26
	GICR_CTLR_UWP        = 1 << 31

	redistCTLRKept = GICR_CTLR_DPG0 | GICR_CTLR_DPG1NS | GICR_CTLR_DPG1S // writable, migrated
)

// GICR_WAKER fields (IHI 0069 12.11, GICR_WAKER).
const (
	WAKER_ProcessorSleep = 1 << 1
	WAKER_ChildrenAsleep = 1 << 2 // read only
)

// ICC_CTLR_EOImode is ICC_CTLR_EL1.EOImode (IHI 0069 12.2, ICC_CTLR_EL1,
// bit 1): 0, a write to ICC_EOIR<n>_EL1 both drops the priority and
// deactivates; 1, it only drops the priority, and ICC_DIR_EL1 (or, for a
// HW-linked interrupt, the guest's virtual deactivation) deactivates.
// Ferry sets it: the physical CPU interface is Ferry's alone (HCR_EL2.IMO
// = 1: the guest's ICC_* accesses reach the virtual one).
const ICC_CTLR_EOImode = 1 << 1

// Interrupt ID ranges (IHI 0069 2.2, "INTIDs").
const (
	NumPrivate = 32        // SGIs 0-15 and PPIs 16-31, per redistributor
	FirstPPI   = 16        // first PPI INTID
	FirstSPI   = 32        // first SPI INTID
	MaxSPIs    = 988       // SPIs 32..1019; 1020-1023 are special
	maxLines   = 31        // GICD_TYPER.ITLinesNumber maximum
	idleCycles = 1_000_000 // register polls before a RWP or WAKER wait gives up
	pageSize   = 4096      // a trapped page
)

// OwnedPriority is the priority SetupOwned gives Ferry's own PPIs and SPIs: above
// anything Linux uses (0xa0, and 0x20 for pseudo-NMIs) so Ferry's
// interrupts preempt the guest's handlers.
const OwnedPriority = 0x10

// Regs is one GIC register frame: offsets are from its base (GICD_base for
// the distributor; RD_base, with SGI_base at +0x10000, for the
// redistributor). MMIO implements it over the physical registers; Fake over
// a model for tests.
type Regs interface {
	Read32(off uint64) uint32
	Write32(off uint64, v uint32)
	Read64(off uint64) uint64
	Write64(off uint64, v uint64)
}

// spisOf is the number of SPIs a distributor implements, from GICD_TYPER.
func spisOf(typer uint32) int {
	return min(32*int(typer&TYPER_ITLinesNumber), MaxSPIs)
}
