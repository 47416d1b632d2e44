// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "fmt"

// Map maps [ipa, ipa+size) to [pa, pa+size); all three must be 4 KiB
// aligned. It uses 2 MiB level-2 blocks where ipa, pa and the remaining size
// allow, else 4 KiB level-3 pages; never 1 GiB blocks, so that RAM is always
// in 2 MiB blocks that dirty tracking can split.
//
// Mapping over an existing mapping is an error (ErrMapped) naming the first
// mapped IPA, and changes nothing. If the arena runs out (ErrExhausted) the
// range is left unmapped, though tables allocated on the way stay used.
func (s *Stage2) Map(ipa, pa, size uint64, attr S2Attr) error {
	attrs, err := attr.desc()
	if err == nil {
		err = s.checkIPA(ipa, size)
	}
	if err == nil {
		err = checkPA(pa, size)
	}
	if err != nil {
		return err
	}
	end := ipa + size
	if err := s.w.walk(ipa, end, leaves(mappedError)); err != nil {
		return err
	}
	if err := s.w.walk(ipa, end, s.mapper(ipa, pa, attrs)); err != nil {
		// The range was unmapped before, so clearing it is a full undo
		// and needs no allocation.
		_ = s.w.walk(ipa, end, clearRange)
		return err
	}
	return nil
}

func mappedError(e entry, _ uint64) error {
	return fmt.Errorf("%w: IPA %#x", ErrMapped, e.lo)
}

// mapper returns the visitor that maps the range starting at ipa to pa. The
// range must hold no leaf, so a descriptor it replaces whole is invalid or
// an empty table.
func (s *Stage2) mapper(ipa, pa, attrs uint64) visitor {
	return func(e entry) (bool, error) {
		out := pa + (e.lo - ipa)
		if e.level >= s2BlockLevel && e.whole() && out%e.size() == 0 {
			e.set(leafDesc(out, e.level, attrs))
			return false, nil
		}
		return true, ensureTable(e)
	}
}

// ensureTable makes the descriptor at e a table, allocating an empty one if
// it is invalid.
func ensureTable(e entry) error {
	d := e.get()
	switch {
	case isTable(d, e.level):
		return nil
	case isValid(d):
		return mappedError(e, d)
	}
	t, err := e.arena.Alloc(1, PageSize)
	if err != nil {
		return fmt.Errorf("mapping IPA %#x: %w", e.lo, err)
	}
	e.set(tableDesc(t))
	return nil
}

// Unmap removes [ipa, ipa+size) (4 KiB aligned). A 2 MiB block the range
// covers only in part is first split into a level-3 table, so the rest of
// it stays mapped with the same attributes. Unmapping what is not mapped is
// not an error. If the arena runs out while splitting, nothing is unmapped.
func (s *Stage2) Unmap(ipa, size uint64) error {
	if err := s.checkIPA(ipa, size); err != nil {
		return err
	}
	end := ipa + size
	if err := s.w.walk(ipa, end, splitBlocks(false)); err != nil {
		return err
	}
	return s.w.walk(ipa, end, clearRange)
}

// WriteProtect makes every mapped page of [ipa, ipa+size) read-only (S2AP
// 0b01), first splitting 2 MiB blocks into 4 KiB pages so that permission
// faults can be handled per page. It returns the number of pages
// protected. If the arena runs out while splitting, nothing is protected.
func (s *Stage2) WriteProtect(ipa, size uint64) (int, error) {
	if err := s.checkIPA(ipa, size); err != nil {
		return 0, err
	}
	end := ipa + size
	if err := s.w.walk(ipa, end, splitBlocks(true)); err != nil {
		return 0, err
	}
	n := 0
	err := s.w.walk(ipa, end, leaves(func(e entry, d uint64) error {
		e.set(withS2AP(d, s2APReadOnly))
		n++
		return nil
	}))
	return n, err
}

// AllowWrite makes the 4 KiB page containing ipa writable again (S2AP
// 0b11), typically after a permission fault. It returns ErrNotMapped if the
// page is not mapped. (Blocks are never read-only: WriteProtect splits them.)
func (s *Stage2) AllowWrite(ipa uint64) error {
	page := ipa &^ (PageSize - 1)
	if err := s.checkIPA(page, PageSize); err != nil {
		return err
	}
	found := false
	err := s.w.walk(page, page+PageSize, leaves(func(e entry, d uint64) error {
		e.set(withS2AP(d, s2APReadWrite))
		found = true
		return nil
	}))
	if err == nil && !found {
		err = fmt.Errorf("%w: IPA %#x", ErrNotMapped, ipa)
	}
	return err
}
