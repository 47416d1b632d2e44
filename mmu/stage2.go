// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "fmt"

// Stage 2 geometry: 4 KiB granule, lookup starting at level 1, 2 MiB blocks
// at level 2 and nothing larger.
const (
	s2StartLevel = 1
	s2BlockLevel = 2
	minIPABits   = 32
	maxIPABits   = 40 // level 1 start, two concatenated level-1 tables
)

// Stage2 is a set of stage-2 translation tables: the guest's intermediate
// physical address (IPA) space.
type Stage2 struct {
	w       walker
	ipaBits int
	tlb     TLB // nil until the tables are live (SetTLB)
}

// NewStage2 allocates the level-1 table for an IPA space of ipaBits (32 to
// 40) bits. Up to 39 bits that is one table; 40 bits needs two concatenated
// tables, indexed by IPA bits [39:30] and aligned to their 8 KiB size.
func NewStage2(a *Arena, ipaBits int) (*Stage2, error) {
	if a == nil || ipaBits < minIPABits || ipaBits > maxIPABits {
		return nil, fmt.Errorf("%w: NewStage2(%d IPA bits)", ErrArgument, ipaBits)
	}
	entries := uint64(1) << (uint(ipaBits) - levelShift(s2StartLevel))
	pages := max(1, entries/tableEntries)
	root, err := a.Alloc(int(pages), pages*PageSize)
	if err != nil {
		return nil, fmt.Errorf("stage 2 level-1 table: %w", err)
	}
	w := walker{arena: a, root: root, startLevel: s2StartLevel, rootEntries: entries}
	return &Stage2{w: w, ipaBits: ipaBits}, nil
}

// Root is the physical address of the level-1 table(s), for
// VTTBR_EL2.BADDR.
func (s *Stage2) Root() uint64 { return s.w.root }

// Lookup walks the tables as the MMU would for ipa. It returns the output
// address of ipa (page offset included), the kind of mapping, whether
// writes are allowed, the level of the leaf (2 for a block, 3 for a page),
// and ok=false if ipa is not mapped.
func (s *Stage2) Lookup(ipa uint64) (pa uint64, attr S2Attr, writable bool, level int, ok bool) {
	if ipa >= s.limit() {
		return
	}
	page := ipa &^ (PageSize - 1)
	_ = s.w.walk(page, page+PageSize, leaves(func(e entry, d uint64) error {
		pa = outputAddr(d) + ipa%e.size()
		attr, writable, level, ok = s2AttrOf(d), d&s2APWrite != 0, e.level, true
		return nil
	}))
	return
}

// limit is the size of the IPA space.
func (s *Stage2) limit() uint64 { return 1 << s.ipaBits }

// checkIPA validates a non-empty, 4 KiB aligned range inside the IPA space.
func (s *Stage2) checkIPA(ipa, size uint64) error {
	switch {
	case ipa%PageSize != 0 || size%PageSize != 0:
		return fmt.Errorf("%w: IPA %#x size %#x", ErrAlign, ipa, size)
	case size == 0:
		return fmt.Errorf("%w: empty range at IPA %#x", ErrRange, ipa)
	case ipa >= s.limit() || size > s.limit()-ipa:
		return fmt.Errorf("%w: IPA %#x size %#x exceeds the %d-bit IPA space", ErrRange, ipa, size, s.ipaBits)
	}
	return nil
}

// checkPA validates a 4 KiB aligned output range a descriptor can hold.
func checkPA(pa, size uint64) error {
	const limit = 1 << oaBits
	switch {
	case pa%PageSize != 0:
		return fmt.Errorf("%w: PA %#x", ErrAlign, pa)
	case pa >= limit || size > limit-pa:
		return fmt.Errorf("%w: PA %#x size %#x exceeds %d bits", ErrRange, pa, size, oaBits)
	}
	return nil
}
