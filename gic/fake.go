// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import "fmt"

// Fake is a model of a GICv3 distributor and one redistributor, with the
// register semantics Capture, Restore, SetupOwned and the Guard rely on:
// set/clear register pairs, read-only GICD_TYPER and GICR_ICFGR0, RAZ/WI
// distributor words for INTIDs 0-31 (affinity routing is always on),
// GICD_CTLR.DS and ARE reading as one, RWP always clear, and
// GICR_WAKER.ChildrenAsleep following ProcessorSleep. Unknown offsets read
// as zero and ignore writes. It records every write, in order, for tests
// that check sequences. It is for tests (here and in other packages); it
// is not a GIC emulator.
type Fake struct {
	spis   int
	twoSec bool // GICD_CTLR.DS = 0, seen from Non-secure: NewFakeTwoSecurity
	dctlr  uint32
	rctlr  uint32
	waker  uint32
	group  [1024]bool
	grpmod [1024]bool
	enable [1024]bool
	pend   [1024]bool
	active [1024]bool
	edge   [1024]bool
	prio   [1024]uint8
	route  [1024]uint64

	// Writes is every write, in order.
	Writes []FakeWrite
}

// FakeWrite is one write seen by a Fake.
type FakeWrite struct {
	Frame string // "GICD" or "GICR"
	Off   uint64
	Val   uint64
}

func (w FakeWrite) String() string { return fmt.Sprintf("%s+%#x=%#x", w.Frame, w.Off, w.Val) }

// NewFake returns a GIC with spis SPIs (a multiple of 32 up to 960, or 988)
// in its reset state: distributor disabled with DS = 1, redistributor
// asleep, SGIs edge-triggered, everything else zero.
func NewFake(spis int) *Fake {
	if checkNumSPIs(uint32(spis)) != nil {
		panic(fmt.Sprintf("gic.NewFake: %d SPIs", spis))
	}
	f := &Fake{spis: spis, dctlr: CTLR_DS | CTLR_ARE, waker: WAKER_ProcessorSleep}
	for i := range FirstPPI {
		f.edge[i] = true
	}
	return f
}

// NewFakeTwoSecurity returns a GIC as a Non-secure hypervisor sees one that
// firmware (TF-A) left with two Security states: GICD_CTLR.DS reads 0,
// bits 1 and 4 of GICD_CTLR are EnableGrp1A and ARE_NS, and the group and
// group-modifier registers are Secure-only (RAZ/WI).
func NewFakeTwoSecurity(spis int) *Fake {
	f := NewFake(spis)
	f.twoSec, f.dctlr = true, CTLR_ARE
	return f
}

// Dist is the distributor frame.
func (f *Fake) Dist() Regs { return fakeDist{f} }

// Redist is the redistributor (RD_base, SGI_base at +0x10000).
func (f *Fake) Redist() Regs { return fakeRedist{f} }

// typer is GICD_TYPER.ITLinesNumber for the SPI count.
func (f *Fake) typer() uint32 { return uint32((f.spis + 31) / 32) }

// bitmapOp is a one-bit-per-INTID register kind.
type bitmapOp struct {
	bits *[1024]bool
	op   int // opPlain, opSet, opClear
}

const (
	opPlain = iota
	opSet
	opClear
)

func (f *Fake) bitmaps() map[uint64]bitmapOp {
	return map[uint64]bitmapOp{
		GICD_IGROUPRn: {&f.group, opPlain}, GICD_IGRPMODRn: {&f.grpmod, opPlain},
		GICD_ISENABLERn: {&f.enable, opSet}, GICD_ICENABLERn: {&f.enable, opClear},
		GICD_ISPENDRn: {&f.pend, opSet}, GICD_ICPENDRn: {&f.pend, opClear},
		GICD_ISACTIVERn: {&f.active, opSet}, GICD_ICACTIVERn: {&f.active, opClear},
	}
}

func (f *Fake) readBits(b *[1024]bool, first int) uint32 {
	var v uint32
	for k := range 32 {
		if b[first+k] && f.implemented(first+k) {
			v |= 1 << k
		}
	}
	return v
}

func (f *Fake) writeBits(b bitmapOp, first int, v uint32) {
	for k := range 32 {
		if !f.implemented(first + k) {
			continue
		}
		bit := v>>k&1 == 1
		switch b.op {
		case opPlain:
			b.bits[first+k] = bit
		case opSet:
			b.bits[first+k] = b.bits[first+k] || bit
		case opClear:
			b.bits[first+k] = b.bits[first+k] && !bit
		}
	}
}

// implemented reports whether INTID i exists.
func (f *Fake) implemented(i int) bool { return i < FirstSPI+f.spis && i < FirstSPI+MaxSPIs }

// access performs a 32-bit access on the per-INTID registers at off,
// relative to the start of the bitmap/priority/config block (GICD_ layout,
// which the SGI_base frame shares), for INTIDs lo..hi-1 only.
func (f *Fake) access(off uint64, write bool, v uint32, lo, hi int) uint32 {
	switch {
	case off >= GICD_IGROUPRn && off < GICD_IPRIORITYRn:
		base := off &^ 0x7f
		first := int(off-base) * 8
		if first < lo || first >= hi || !f.implemented(first) || f.twoSec && base == GICD_IGROUPRn {
			return 0
		}
		b := f.bitmaps()[base]
		if write {
			f.writeBits(b, first, v)
			return 0
		}
		return f.readBits(b.bits, first)
	case off >= GICD_IPRIORITYRn && off < GICD_ITARGETSRn:
		first := int(off - GICD_IPRIORITYRn)
		if first < lo || first >= hi || !f.implemented(first) {
			return 0
		}
		var r uint32
		for k := range 4 {
			if write {
				f.prio[first+k] = uint8(v >> (8 * k))
			}
			r |= uint32(f.prio[first+k]) << (8 * k)
		}
		return r
	case off >= GICD_ICFGRn && off < GICD_IGRPMODRn:
		first := int(off-GICD_ICFGRn) * 4
		if first < lo || first >= hi || !f.implemented(first) {
			return 0
		}
		var r uint32
		for k := range 16 {
			if !f.implemented(first + k) {
				continue
			}
			if write && first+k >= FirstPPI { // SGIs are always edge
				f.edge[first+k] = v>>(2*k+1)&1 == 1
			}
			if f.edge[first+k] {
				r |= 1 << (2*k + 1)
			}
		}
		return r
	case off >= GICD_IGRPMODRn && off < GICD_IGRPMODRn+0x80:
		first := int(off-GICD_IGRPMODRn) * 8
		if first < lo || first >= hi || !f.implemented(first) || f.twoSec {
			return 0
		}
		if write {
			f.writeBits(bitmapOp{&f.grpmod, opPlain}, first, v)
			return 0
		}
		return f.readBits(&f.grpmod, first)
	}
	return 0
}

type fakeDist struct{ f *Fake }

func (d fakeDist) Read32(off uint64) uint32 {
	switch off {
	case GICD_CTLR:
		return d.f.dctlr
	case GICD_TYPER:
		return d.f.typer()
	}
	if off%4 != 0 {
		return 0
	}
	if i, ok := d.f.router(off &^ 7); ok { // one half of a GICD_IROUTER<n>
		return uint32(d.f.route[i] >> (8 * (off & 4)))
	}
	return d.f.access(off, false, 0, FirstSPI, 1024)
}

func (d fakeDist) Write32(off uint64, v uint32) {
	d.f.Writes = append(d.f.Writes, FakeWrite{"GICD", off, uint64(v)})
	switch {
	case off == GICD_CTLR && d.f.twoSec:
		d.f.dctlr = CTLR_ARE | v&(CTLR_EnableGrp0|CTLR_EnableGrp1) // EnableGrp1, EnableGrp1A
	case off == GICD_CTLR:
		d.f.dctlr = CTLR_DS | CTLR_ARE | v&(CTLR_EnableGrp0|CTLR_EnableGrp1)
	case off%4 == 0 && off >= GICD_IROUTERn:
		if i, ok := d.f.router(off &^ 7); ok {
			sh := 8 * (off & 4)
			d.f.route[i] = (d.f.route[i]&^(0xffff_ffff<<sh) | uint64(v)<<sh) & irouterFields
		}
	case off%4 == 0:
		d.f.access(off, true, v, FirstSPI, 1024)
	}
}

func (d fakeDist) Read64(off uint64) uint64 {
	if i, ok := d.f.router(off); ok {
		return d.f.route[i]
	}
	return 0
}

func (d fakeDist) Write64(off uint64, v uint64) {
	d.f.Writes = append(d.f.Writes, FakeWrite{"GICD", off, v})
	if i, ok := d.f.router(off); ok {
		d.f.route[i] = v & irouterFields
	}
}

func (f *Fake) router(off uint64) (int, bool) {
	if off < GICD_IROUTERn || off%8 != 0 {
		return 0, false
	}
	i := int(off-GICD_IROUTERn) / 8
	return i, i >= FirstSPI && f.implemented(i)
}

type fakeRedist struct{ f *Fake }

func (r fakeRedist) Read32(off uint64) uint32 {
	switch {
	case off == GICR_CTLR:
		return r.f.rctlr
	case off == GICR_WAKER:
		if r.f.waker&WAKER_ProcessorSleep != 0 {
			return r.f.waker | WAKER_ChildrenAsleep
		}
		return r.f.waker
	case off == GICR_ICFGR0:
		return cfgEdgeBits
	case off >= GICR_SGIBase && off%4 == 0:
		return r.f.access(off-GICR_SGIBase, false, 0, 0, NumPrivate)
	}
	return 0
}

func (r fakeRedist) Write32(off uint64, v uint32) {
	r.f.Writes = append(r.f.Writes, FakeWrite{"GICR", off, uint64(v)})
	switch {
	case off == GICR_CTLR:
		r.f.rctlr = v & (GICR_CTLR_EnableLPIs | redistCTLRKept)
	case off == GICR_WAKER:
		r.f.waker = v & WAKER_ProcessorSleep
	case off == GICR_ICFGR0:
	case off >= GICR_SGIBase && off%4 == 0:
		r.f.access(off-GICR_SGIBase, true, v, 0, NumPrivate)
	}
}

func (r fakeRedist) Read64(off uint64) uint64 { return 0 }

func (r fakeRedist) Write64(off uint64, v uint64) {
	r.f.Writes = append(r.f.Writes, FakeWrite{"GICR", off, v})
}
