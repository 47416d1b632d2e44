// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

func cleanDcacheRange(start, end, line uint64)
func cleanInvalidateDcacheRange(start, end, line uint64)
func invalidateIcache()
func flushStage2()
func flushEL2()
func invalidateIPA(ipa uint64)
func flushGuestStage1()
func invalidateGuestVA(va uint64)
func smc(a *[8]uint64)
func rndr() (v uint64, ok bool)
func vectorBase() uint64
func waitForInterrupt()
func waitForEvent()
func sendEvent()
func fence()
func dmaFence()

// dcacheLine is the smallest data cache line, from CTR_EL0.DminLine.
func dcacheLine() uint64 { return 4 << (ReadCTR_EL0() >> 16 & 0xf) }

// CleanDcache cleans [start, start+size) to the point of coherency, so that
// an observer with caches off (the guest kernel before its MMU is on, or a
// DMA master) sees what Ferry wrote.
func CleanDcache(start, size uint64) {
	if size == 0 {
		return
	}
	cleanDcacheRange(start, start+size, dcacheLine())
}

// CleanInvalidateDcache cleans and invalidates [start, start+size) to the
// point of coherency (DC CIVAC, ARM ARM C5.3), so that Ferry's next read
// through its cacheable map sees what an observer that bypasses the
// caches wrote there since: a guest's descriptor ring it maps
// Non-cacheable (for a device that does not snoop), read by the relay.
// Clean first, so nothing Ferry wrote there is lost.
func CleanInvalidateDcache(start, size uint64) {
	if size == 0 {
		return
	}
	cleanInvalidateDcacheRange(start, start+size, dcacheLine())
}

// InvalidateIcache invalidates all instruction caches to the point of
// unification.
func InvalidateIcache() { invalidateIcache() }

// FlushStage2 invalidates every stage 1 and stage 2 TLB entry of the guest
// after its stage 2 tables changed.
func FlushStage2() { flushStage2() }

// InvalidateGuestPage makes a stage-2 change to the page at ipa visible to
// the guest at once, as KVM does after relaxing a page's permissions
// (__kvm_tlb_flush_vmid_ipa): the stage-2 entries for it, then the
// guest's stage 1+2 combined entries (TLBI VMALLE1IS).
func InvalidateGuestPage(ipa uint64) {
	invalidateIPA(ipa)
	flushGuestStage1()
}

// InvalidateGuestWrite is the cheap form of InvalidateGuestPage after a
// write fault at virtual address va made the page at ipa writable: the
// stage-2 entries for ipa and the guest's entries for va alone (TLBI
// VAAE1IS) rather than all of them. Another VA mapping the same page may
// keep a stale read-only entry; its write then faults on a page already
// writable, and the handler uses InvalidateGuestPage.
func InvalidateGuestWrite(ipa, va uint64) {
	invalidateIPA(ipa)
	invalidateGuestVA(va)
}

// Stage2TLB is the live stage 2's TLB maintenance (mmu.TLB).
type Stage2TLB struct{}

// InvalidateIPA implements mmu.TLB: it invalidates the stage-2 TLB entries
// for ipa (TLBI IPAS2E1IS, ARM ARM D8.16 / C5.5), the maintenance inside a
// stage-2 break-before-make, whose caller flushes the combined entries
// once its batch is done.
func (Stage2TLB) InvalidateIPA(ipa uint64, _ int) { invalidateIPA(ipa) }

// FlushEL2 invalidates Ferry's own EL2 stage 1 TLB entries.
func FlushEL2() { flushEL2() }

// SMC issues an SMC #0 with the SMCCC arguments x0..x7 and returns x0..x3.
func SMC(args [8]uint64) [4]uint64 {
	smc(&args)
	return [4]uint64{args[0], args[1], args[2], args[3]}
}

// HasRNDR reports FEAT_RNG.
func HasRNDR() bool { return Field(ReadID_AA64ISAR0_EL1(), ISAR0_RNDR_Shift) != 0 }

// RNDR returns a 64-bit random number from FEAT_RNG; ok is false when the
// hardware could not produce one in reasonable time (retry).
func RNDR() (v uint64, ok bool) { return rndr() }

// WaitForInterrupt executes WFI.
func WaitForInterrupt() { waitForInterrupt() }

// WaitForEvent executes WFE: until an event (another CPU's SEV, the
// event stream) or an interrupt. Under QEMU's TCG it only yields. It is
// nosplit: boot/el2's thread switch calls it where an M may have no g.
//
//go:nosplit
func WaitForEvent() { waitForEvent() }

// SendEvent makes what this CPU wrote visible to the others (DSB ISH) and
// sends them an event (SEV): a CPU in WaitForEvent looks again.
//
//go:nosplit
func SendEvent() { sendEvent() }

// Fence executes DMB ISH (ARM ARM C6.2.81 DMB): the CPU's memory accesses
// before it are observed before those after it -- a write to a ring
// before the read of an index a device moves.
func Fence() { fence() }

// DMAFence executes DMB OSH: the same, as observed by the outer shareable
// domain, where a bus master that does not snoop the CPU's caches sits (the
// i.MX8M Plus ENET): a frame written to Non-cacheable memory before the
// descriptor that hands it over, both before the doorbell register write
// (Linux's dma_wmb and __iowmb), a descriptor read before its buffer
// (dma_rmb).
func DMAFence() { dmaFence() }
