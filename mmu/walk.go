// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "fmt"

// walker walks one set of translation tables. The start-level table may be
// several concatenated 4 KiB tables (stage 2 only, ARM ARM D8 "concatenated
// translation tables"), rootEntries descriptors in all, indexed by the
// address bits above those the start level resolves.
type walker struct {
	arena       *Arena
	root        uint64
	startLevel  int
	rootEntries uint64 // a power of two
}

// entry is one descriptor met by a walk, and the part [lo, hi) of the walked
// range that falls in the region it maps.
type entry struct {
	arena  *Arena
	table  uint64 // the 4 KiB table holding the descriptor
	index  int
	level  int
	lo, hi uint64
}

func (e entry) get() uint64    { return e.arena.Load(e.table, e.index) }
func (e entry) set(d uint64)   { e.arena.Store(e.table, e.index, d) }
func (e entry) size() uint64   { return levelSize(e.level) }
func (e entry) whole() bool    { return e.lo%e.size() == 0 && e.hi-e.lo == e.size() }
func (e entry) offset() uint64 { return e.lo % e.size() }

// visitor is called for every descriptor whose region meets the walked
// range, in address order. It may rewrite the descriptor. If it returns
// descend, the descriptor must then be a table, and the walk continues in it
// before moving on.
type visitor func(e entry) (descend bool, err error)

// walk visits the descriptors covering [lo, hi), which must lie inside the
// address space of the tables.
func (w *walker) walk(lo, hi uint64, visit visitor) error {
	return w.walkTable(w.root, w.startLevel, lo, hi, visit)
}

// walkTable is the one table walker: it serves every level.
func (w *walker) walkTable(table uint64, level int, lo, hi uint64, visit visitor) error {
	size := levelSize(level)
	for lo < hi {
		end := min(lo&^(size-1)+size, hi)
		e := w.entry(table, level, lo, end)
		descend, err := visit(e)
		if err == nil && descend {
			err = w.descend(e, visit)
		}
		if err != nil {
			return err
		}
		lo = end
	}
	return nil
}

func (w *walker) descend(e entry, visit visitor) error {
	d := e.get()
	if !isTable(d, e.level) {
		return fmt.Errorf("mmu: internal error: descending into %#x, not a table, at level %d", d, e.level)
	}
	return w.walkTable(outputAddr(d), e.level+1, e.lo, e.hi, visit)
}

// entry locates the descriptor for addr in table at level.
func (w *walker) entry(table uint64, level int, addr, end uint64) entry {
	n := uint64(tableEntries)
	if level == w.startLevel {
		n = w.rootEntries
	}
	i := addr >> levelShift(level) & (n - 1)
	return entry{
		arena: w.arena,
		table: table + i/tableEntries*PageSize,
		index: int(i % tableEntries),
		level: level,
		lo:    addr,
		hi:    end,
	}
}

// leaves returns a visitor that descends through tables, skips invalid
// descriptors and calls fn for each block or page descriptor d.
func leaves(fn func(e entry, d uint64) error) visitor {
	return func(e entry) (bool, error) {
		d := e.get()
		switch {
		case isTable(d, e.level):
			return true, nil
		case isLeaf(d, e.level):
			return false, fn(e, d)
		}
		return false, nil
	}
}

// splitBlocks returns a visitor that replaces blocks by tables of the next
// level with the same mapping and attributes: every block met if all is
// set, else only blocks the range covers partly.
func splitBlocks(all bool) visitor {
	return func(e entry) (bool, error) {
		d := e.get()
		switch {
		case isTable(d, e.level):
			return all || !e.whole(), nil
		case e.level < lastLevel && isLeaf(d, e.level) && (all || !e.whole()):
			return true, split(e, d)
		}
		return false, nil
	}
}

// split replaces block d at e by a next-level table of blocks or pages that
// map the same output addresses with the same attributes (ARM ARM D8.3).
func split(e entry, d uint64) error {
	t, err := e.arena.Alloc(1, PageSize)
	if err != nil {
		return fmt.Errorf("splitting block at %#x: %w", e.lo-e.offset(), err)
	}
	child := e.level + 1
	step := levelSize(child)
	for i := range tableEntries {
		e.arena.Store(t, i, leafDesc(outputAddr(d)+uint64(i)*step, child, d))
	}
	e.set(tableDesc(t))
	return nil
}

// clearRange is a visitor that invalidates the walked range: descriptors
// whose whole region is in the range are dropped (tables with them), others
// are descended into. Blocks covered only in part must have been split
// first.
func clearRange(e entry) (bool, error) {
	d := e.get()
	switch {
	case !isValid(d):
		return false, nil
	case e.whole():
		e.set(descInvalid)
		return false, nil
	case isTable(d, e.level):
		return true, nil
	}
	return false, fmt.Errorf("mmu: internal error: block at %#x only partly cleared", e.lo-e.offset())
}
