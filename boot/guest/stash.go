// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package guest

import (
	"bytes"
	"errors"
	"fmt"
	"hash/crc32"

	"github.com/ferry-hv/ferry/internal/wire"
	"github.com/ferry-hv/ferry/phys"
)

// The boot stash: what Ferry keeps to boot the guest again when the guest
// resets itself (PSCI SYSTEM_RESET). The guest's RAM holds the kernel the
// loader placed, but the guest has written over it since (its data and
// BSS, code patched at boot, the initramfs freed and reused), and no
// loader is left to place it again. So at boot Ferry copies the kernel
// Image (image_size bytes) and the initramfs to the top of guest RAM and
// writes a record of them in the last page there; the guest's DTB leaves
// the stash out of its memory. The stash is guest RAM to everything else
// -- the stage-2 map, a migration's pages -- so it moves with the guest,
// and the board the guest runs on after a migration finds it where the
// first board put it: the record sits in the last page of guest RAM, and
// two boards a guest moves between have the same RAM.
//
//	stash.Base   kernel copy (image_size bytes), page aligned
//	             initramfs copy, page aligned
//	             (free)
//	RAM end - 4 KiB  the record: magic, version, where each part goes,
//	                 the command line, CRC32C of the copies, CRC32C of itself
//
// The guest could write there anyway (stage 2 maps it, so that dirty
// tracking and the migration treat it as any page): a record or a copy it
// damaged is found by the checksums and the guest is not restarted from
// it. It can harm only its own next boot, which it controls anyway.

// StashVersion is the version of the stash record this package writes and
// reads.
const StashVersion = 1

// Stash sizes and alignment.
const (
	pageSize = 4 << 10
	// StashAlign aligns the stash's base: the guest's memory ends on a
	// 2 MiB block.
	StashAlign = blockSize
	// MaxBootargs bounds the guest's command line in the record (arm64
	// Linux's COMMAND_LINE_SIZE).
	MaxBootargs = 2048
	// stashRecordMax is the most a record takes: it fits the last page.
	stashRecordMax = pageSize
)

// stashMagic opens a stash record.
var stashMagic = []byte("FERRYBT\x00")

// ErrNoStash says that the last page of guest RAM holds no stash record:
// the guest was booted by a Ferry that kept none.
var ErrNoStash = errors.New("no boot stash record at the end of guest RAM (the guest was booted by a Ferry that kept none)")

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Stash is where the boot stash lies and what it holds.
type Stash struct {
	Range    phys.Range // the stash: the top of guest RAM, from a 2 MiB boundary
	Kernel   phys.Range // where the kernel Image goes: its load address and image_size
	Initrd   phys.Range // where the initramfs goes (zero Size: none)
	Bootargs string     // the guest's command line
	Sum      uint32     // CRC32C of the kernel copy then the initramfs copy
}

// Memory is guest RAM by physical address: the bytes of [addr, addr+n),
// or an error if they are not guest RAM.
type Memory interface {
	Slice(addr uint64, n int) ([]byte, error)
}

// alignUp rounds v up to a multiple of a (a power of two).
func alignUp(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// kernelCopy, initrdCopy and record are the stash's parts.
func (s *Stash) kernelCopy() phys.Range {
	return phys.Range{Base: s.Range.Base, Size: s.Kernel.Size}
}

func (s *Stash) initrdCopy() phys.Range {
	return phys.Range{Base: s.Range.Base + alignUp(s.Kernel.Size, pageSize), Size: s.Initrd.Size}
}

func (s *Stash) record() phys.Range {
	return phys.Range{Base: s.Range.End() - pageSize, Size: pageSize}
}

// stashSize is the room the kernel and initramfs of l take in a stash,
// its record included.
func stashSize(l *Layout) uint64 {
	return alignUp(l.KernelEnd-l.Kernel, pageSize) + alignUp(l.Initrd.Size, pageSize) + pageSize
}

// PlanStash places the boot stash for the guest laid out as l at the top
// of guest RAM (ram, the machine description's), clear of the DTB's area,
// the kernel and the initramfs where the loader put them.
func PlanStash(ram []phys.Range, l *Layout) (*Stash, error) {
	if len(ram) == 0 {
		return nil, errors.New("stash: no guest RAM")
	}
	if len(l.Bootargs) > MaxBootargs {
		return nil, fmt.Errorf("stash: the guest's command line is %d bytes, over %d", len(l.Bootargs), MaxBootargs)
	}
	last := ram[len(ram)-1]
	need := stashSize(l)
	if need > last.Size || last.End()-need < last.Base {
		return nil, fmt.Errorf("stash: the kernel and initramfs (%d bytes with the record) do not fit in guest RAM's last range %v", need, last)
	}
	base := (last.End() - need) &^ (StashAlign - 1)
	if base < last.Base {
		return nil, fmt.Errorf("stash: the kernel and initramfs (%d bytes with the record) do not fit in guest RAM's last range %v on a 2 MiB boundary", need, last)
	}
	s := &Stash{
		Range:    phys.Range{Base: base, Size: last.End() - base},
		Kernel:   phys.Range{Base: l.Kernel, Size: l.KernelEnd - l.Kernel},
		Initrd:   l.Initrd,
		Bootargs: l.Bootargs,
	}
	for _, o := range []struct {
		what string
		r    phys.Range
	}{{"the DTB's area", phys.Range{Base: l.DTB, Size: DTBMaxSize}}, {"the kernel", s.Kernel}, {"the initramfs", s.Initrd}} {
		if o.r.Size > 0 && s.Range.Overlaps(o.r) {
			return nil, fmt.Errorf("stash: %v at the top of guest RAM would overlap %s at %v", s.Range, o.what, o.r)
		}
	}
	return s, nil
}

// Memory is the guest's memory: guest RAM without the stash (the memory
// its DTB gives it).
func (s *Stash) Memory(ram []phys.Range) []phys.Range { return phys.Subtract(ram, s.Range) }

// Layout is the boot the stash gives: the DTB at the start of guest RAM,
// the kernel and initramfs where the loader first put them.
func (s *Stash) Layout(ram []phys.Range) *Layout {
	return &Layout{DTB: ram[0].Base, Kernel: s.Kernel.Base, KernelEnd: s.Kernel.End(), Initrd: s.Initrd, Bootargs: s.Bootargs}
}

// Keep copies the kernel and initramfs from where the loader put them into
// the stash and writes its record, before the guest first runs.
func (s *Stash) Keep(m Memory) error {
	sum, err := copyPairs(m, [][2]phys.Range{{s.Kernel, s.kernelCopy()}, {s.Initrd, s.initrdCopy()}})
	if err != nil {
		return err
	}
	s.Sum = sum
	page, err := m.Slice(s.record().Base, pageSize)
	if err != nil {
		return fmt.Errorf("stash: %w", err)
	}
	clear(page)
	copy(page, s.encode())
	return nil
}

// Copies are the stash's copies of the kernel and initramfs (for the
// cache maintenance after Keep).
func (s *Stash) Copies() []phys.Range {
	return []phys.Range{s.kernelCopy(), s.initrdCopy(), s.record()}
}

// encode is the stash's record.
func (s *Stash) encode() []byte {
	var w wire.Writer
	w.Raw(stashMagic)
	w.U16(StashVersion)
	for _, r := range []phys.Range{s.Range, s.Kernel, s.Initrd} {
		w.U64(r.Base)
		w.U64(r.Size)
	}
	w.Blob([]byte(s.Bootargs))
	w.U32(s.Sum)
	w.U32(crc32.Checksum(w.Bytes(), castagnoli))
	return w.Bytes()
}

// decodeStash reads a stash record from the start of b (the last page of
// guest RAM) and checks its own checksum; the layout it describes is
// checked by LoadStash.
func decodeStash(b []byte) (*Stash, error) {
	if len(b) > stashRecordMax {
		b = b[:stashRecordMax]
	}
	if !bytes.HasPrefix(b, stashMagic) {
		return nil, ErrNoStash
	}
	r := wire.NewReader(b)
	r.Raw(len(stashMagic))
	if v := r.U16(); r.Err() == nil && v != StashVersion {
		return nil, fmt.Errorf("stash: record version %d; this Ferry reads %d", v, StashVersion)
	}
	var s Stash
	for _, p := range []*phys.Range{&s.Range, &s.Kernel, &s.Initrd} {
		p.Base, p.Size = r.U64(), r.U64()
	}
	s.Bootargs = string(r.Blob(MaxBootargs))
	s.Sum = r.U32()
	n := len(stashMagic) + 2 + 6*8 + 4 + len(s.Bootargs) + 4 // the bytes the checksum covers
	sum := r.U32()
	if err := r.Err(); err != nil {
		return nil, fmt.Errorf("stash: record: %w", err)
	}
	if got := crc32.Checksum(b[:n], castagnoli); got != sum {
		return nil, fmt.Errorf("stash: record checksum %#08x, computed %#08x: the record was written over", sum, got)
	}
	return &s, nil
}

// LoadStash reads the stash at the top of guest RAM (ram, the machine
// description's) and checks it: its record, that everything it says lies
// where a boot may put it, that the kernel copy is an arm64 Image of the
// size recorded, and the copies' checksum. Nothing is written.
func LoadStash(m Memory, ram []phys.Range) (*Stash, error) {
	if len(ram) == 0 || ram[0].Size < 2*DTBMaxSize {
		return nil, fmt.Errorf("stash: guest RAM %v has no room for a DTB and a kernel", ram)
	}
	last := ram[len(ram)-1]
	page, err := m.Slice(last.End()-pageSize, pageSize)
	if err != nil {
		return nil, fmt.Errorf("stash: %w", err)
	}
	s, err := decodeStash(page)
	if err != nil {
		return nil, err
	}
	if err := s.check(ram); err != nil {
		return nil, err
	}
	sum := uint32(0)
	for _, c := range []phys.Range{s.kernelCopy(), s.initrdCopy()} {
		b, err := m.Slice(c.Base, int(c.Size))
		if err != nil {
			return nil, fmt.Errorf("stash: %w", err)
		}
		if c == s.kernelCopy() {
			if err := s.checkImage(b); err != nil {
				return nil, err
			}
		}
		sum = crc32.Update(sum, castagnoli, b)
	}
	if sum != s.Sum {
		return nil, fmt.Errorf("stash: the kernel and initramfs copies' checksum is %#08x, recorded %#08x: the guest wrote over them", sum, s.Sum)
	}
	return s, nil
}

// check makes sure a decoded record describes a stash PlanStash could have
// made on this RAM: the stash ends guest RAM from a 2 MiB boundary and
// holds its copies and record, and the kernel and initramfs go into the
// guest's memory, clear of the DTB's area and of each other.
func (s *Stash) check(ram []phys.Range) error {
	last := ram[len(ram)-1]
	switch {
	case s.Range.End() < s.Range.Base || s.Range.End() != last.End() || s.Range.Base < last.Base || s.Range.Base%StashAlign != 0:
		return fmt.Errorf("stash: record places the stash at %v, not at the top of guest RAM %v from a 2 MiB boundary", s.Range, ram)
	case s.Kernel.Size == 0 || s.Kernel.End() < s.Kernel.Base || s.Initrd.End() < s.Initrd.Base:
		return fmt.Errorf("stash: record's kernel %v or initramfs %v is not a range", s.Kernel, s.Initrd)
	case s.Kernel.Size > s.Range.Size || s.Initrd.Size > s.Range.Size || stashSize(s.Layout(ram)) > s.Range.Size:
		return fmt.Errorf("stash: the kernel (%d bytes) and initramfs (%d bytes) do not fit the stash %v", s.Kernel.Size, s.Initrd.Size, s.Range)
	}
	mem := s.Memory(ram)
	dtbArea := phys.Range{Base: ram[0].Base, Size: DTBMaxSize}
	if err := check(mem, "kernel", s.Kernel, dtbArea); err != nil {
		return fmt.Errorf("stash: %w", err)
	}
	if s.Initrd.Size > 0 {
		if err := check(mem, "initramfs", s.Initrd, dtbArea, s.Kernel); err != nil {
			return fmt.Errorf("stash: %w", err)
		}
	}
	return nil
}

// checkImage checks the kernel copy b: an arm64 Image whose image_size is
// the size recorded, placed as Plan requires.
func (s *Stash) checkImage(b []byte) error {
	h, err := ParseImageHeader(b)
	if err != nil {
		return fmt.Errorf("stash: the kernel copy: %w", err)
	}
	if h.ImageSize != s.Kernel.Size {
		return fmt.Errorf("stash: the kernel copy's image_size is %#x, recorded %#x", h.ImageSize, s.Kernel.Size)
	}
	if (s.Kernel.Base-h.TextOffset)%blockSize != 0 {
		return fmt.Errorf("stash: kernel at %#x: Image minus text_offset %#x must be 2 MiB aligned", s.Kernel.Base, h.TextOffset)
	}
	return nil
}

// Restore copies the kernel and initramfs from the stash back to where
// they go. s must come from LoadStash.
func (s *Stash) Restore(m Memory) error {
	_, err := copyPairs(m, [][2]phys.Range{{s.kernelCopy(), s.Kernel}, {s.initrdCopy(), s.Initrd}})
	return err
}

// copyPairs copies each pair's first range to its second (an empty one is
// skipped) and returns the CRC32C of what it wrote, in order.
func copyPairs(m Memory, pairs [][2]phys.Range) (uint32, error) {
	sum := uint32(0)
	for _, p := range pairs {
		if p[0].Size == 0 {
			continue
		}
		from, err := m.Slice(p[0].Base, int(p[0].Size))
		if err != nil {
			return 0, fmt.Errorf("stash: %w", err)
		}
		to, err := m.Slice(p[1].Base, int(p[1].Size))
		if err != nil {
			return 0, fmt.Errorf("stash: %w", err)
		}
		copy(to, from)
		sum = crc32.Update(sum, castagnoli, to)
	}
	return sum, nil
}
