// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "fmt"

// TLB is the maintenance a live set of stage-2 tables needs while it is
// edited. Stage2 calls it in the middle of a break-before-make sequence
// (ARM ARM D8.16.1, "Using break-before-make when updating translation
// table entries"): the old descriptor has been made invalid, and the TLB
// must forget every entry for the region before the new one is written.
// The caller invalidates stage-1+2 combined entries once a batch of edits
// is done (TLBI VMALLS12E1IS).
type TLB interface {
	// InvalidateIPA removes the stage-2 entries for the region that holds
	// ipa at level (TLBI IPAS2E1IS after a DSB ISHST, then a DSB ISH).
	InvalidateIPA(ipa uint64, level int)
}

// SetTLB makes the tables live: from now on every change that needs
// break-before-make calls t. Without one (host tests, tables not yet in
// use) nothing is invalidated.
func (s *Stage2) SetTLB(t TLB) { s.tlb = t }

// breakBeforeMake replaces the descriptor at e by d: invalid first, the
// TLB told, then d.
func (s *Stage2) breakBeforeMake(e entry, d uint64) {
	e.set(descInvalid)
	if s.tlb != nil {
		s.tlb.InvalidateIPA(e.lo-e.offset(), e.level)
	}
	e.set(d)
}

// TrackWrites prepares [ipa, ipa+size) (2 MiB aligned RAM, mapped) for
// dirty tracking: every 2 MiB block is split into a level-3 table of 4 KiB
// pages (break-before-make) and every page is made read-only, so that the
// guest's first write to each page takes a permission fault. It returns
// how many blocks were split and pages protected. If the arena runs out,
// the blocks split so far stay split (Merge puts them back).
func (s *Stage2) TrackWrites(ipa, size uint64) (blocks, pages int, err error) {
	if err := s.checkBlocks(ipa, size); err != nil {
		return 0, 0, err
	}
	err = s.w.walk(ipa, ipa+size, func(e entry) (bool, error) {
		d := e.get()
		switch {
		case e.level < s2BlockLevel && isTable(d, e.level):
			return true, nil
		case e.level == s2BlockLevel && isLeaf(d, e.level):
			t, err := e.arena.Alloc(1, PageSize)
			if err != nil {
				return false, fmt.Errorf("splitting block at %#x: %w", e.lo, err)
			}
			ro := withS2AP(d, s2APReadOnly)
			for i := range tableEntries {
				e.arena.Store(t, i, leafDesc(outputAddr(d)+uint64(i)*PageSize, lastLevel, ro))
			}
			s.breakBeforeMake(e, tableDesc(t))
			blocks++
			pages += tableEntries
		case e.level == s2BlockLevel && isTable(d, e.level):
			// Split already (a page Ferry protects, or a second call):
			// protect what is mapped in it.
			for i := range tableEntries {
				if p := e.arena.Load(outputAddr(d), i); isLeaf(p, lastLevel) {
					e.arena.Store(outputAddr(d), i, withS2AP(p, s2APReadOnly))
					pages++
				}
			}
		}
		return false, nil
	})
	return blocks, pages, err
}

// Merge ends dirty tracking over [ipa, ipa+size) (2 MiB aligned): every
// level-3 table whose 512 pages map one aligned 2 MiB with the same memory
// attributes is replaced by a writable 2 MiB block (break-before-make) and
// given back to the arena. Tables that map anything else (a hole, a page
// of another kind) stay, their pages made writable. It returns how many
// blocks were made.
func (s *Stage2) Merge(ipa, size uint64) (int, error) {
	if err := s.checkBlocks(ipa, size); err != nil {
		return 0, err
	}
	n := 0
	err := s.w.walk(ipa, ipa+size, func(e entry) (bool, error) {
		d := e.get()
		switch {
		case e.level < s2BlockLevel && isTable(d, e.level):
			return true, nil
		case e.level == s2BlockLevel && isTable(d, e.level):
			t := outputAddr(d)
			if block, ok := mergeable(e.arena, t); ok {
				s.breakBeforeMake(e, block)
				e.arena.Free(t)
				n++
				return false, nil
			}
			for i := range tableEntries {
				if p := e.arena.Load(t, i); isLeaf(p, lastLevel) && s2AttrOf(p) == S2Normal {
					e.arena.Store(t, i, withS2AP(p, s2APReadWrite))
				}
			}
		}
		return false, nil
	})
	return n, err
}

// mergeable returns the writable 2 MiB block descriptor equivalent to the
// level-3 table at t, if there is one: RAM only (a device table holds
// pages Ferry protects on purpose).
func mergeable(a *Arena, t uint64) (uint64, bool) {
	first := a.Load(t, 0)
	base := outputAddr(first)
	if !isLeaf(first, lastLevel) || s2AttrOf(first) != S2Normal || base%levelSize(s2BlockLevel) != 0 {
		return 0, false
	}
	attrs := withS2AP(first, s2APReadWrite) & descAttrMask
	for i := 1; i < tableEntries; i++ {
		p := a.Load(t, i)
		if !isLeaf(p, lastLevel) || outputAddr(p) != base+uint64(i)*PageSize || withS2AP(p, s2APReadWrite)&descAttrMask != attrs {
			return 0, false
		}
	}
	return leafDesc(base, s2BlockLevel, attrs), true
}

// checkBlocks validates a non-empty, 2 MiB aligned range of the IPA space.
func (s *Stage2) checkBlocks(ipa, size uint64) error {
	if ipa%BlockSize != 0 || size%BlockSize != 0 {
		return fmt.Errorf("%w: IPA %#x size %#x is not in whole 2 MiB blocks", ErrAlign, ipa, size)
	}
	return s.checkIPA(ipa, size)
}

// pageSlot finds the level-3 descriptor of the page at ipa without a
// visitor: the dirty-fault path runs it for every first write to a page.
func (s *Stage2) pageSlot(ipa uint64) (table uint64, index int, ok bool) {
	if ipa >= s.limit() {
		return 0, 0, false
	}
	table, level := s.w.root, s.w.startLevel
	for {
		e := s.w.entry(table, level, ipa, ipa+PageSize)
		d := e.get()
		if level == lastLevel {
			return e.table, e.index, isLeaf(d, lastLevel)
		}
		if !isTable(d, level) {
			return 0, 0, false
		}
		table, level = outputAddr(d), level+1
	}
}

// SetPageWritable makes the 4 KiB page at ipa writable (w) or read-only,
// and reports whether it was writable before. The page must be mapped by a
// level-3 descriptor (TrackWrites made it one): ErrNotMapped otherwise.
// Making a page read-only needs no break-before-make; the caller
// invalidates the TLB for it (a batch of them at once).
func (s *Stage2) SetPageWritable(ipa uint64, w bool) (was bool, err error) {
	t, i, ok := s.pageSlot(ipa &^ (PageSize - 1))
	if !ok {
		return false, fmt.Errorf("%w: no 4 KiB page at IPA %#x", ErrNotMapped, ipa)
	}
	d := s.w.arena.Load(t, i)
	ap := s2APReadOnly
	if w {
		ap = s2APReadWrite
	}
	s.w.arena.Store(t, i, withS2AP(d, ap))
	return d&s2APWrite != 0, nil
}
