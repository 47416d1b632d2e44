// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"cmp"
	"debug/elf"
	"fmt"
	"io"
	"slices"

	"github.com/ferry-hv/ferry/boot/guest"
)

// Layout is what the flat image must fit: the base of the board's RAM (the
// 2 MiB aligned base the Image's text_offset is counted from) and the end
// of what Ferry uses above its load address -- its carve-out and the slot
// at the start of guest RAM it writes the guest's DTB into. image_size
// reaches there, so a loader reserves all of it and puts nothing (an
// initramfs, the DTB) in it.
type Layout struct {
	RAMBase uint64
	End     uint64
}

const (
	block     = 2 << 20   // text_offset is counted from a 2 MiB aligned base
	pageSize  = 4 << 10   // the Image's load address is page aligned
	maxBranch = 128 << 20 // reach of B (imm26 * 4)
	maxFile   = 256 << 20 // bound on what is read from the ELF
	opB       = 0x14000000
)

// Build lays out f's loadable segments from their link base and puts the
// arm64 Image header over the first 64 bytes (the ELF header, which the
// first segment must start with, so no code or data is lost): code0 is a
// B to the ELF's entry, code1 zero (UDF, never reached), text_offset the
// link base's offset from RAMBase, flags 4K pages with bit 3 clear (placed
// at DRAM base + text_offset, i.e. where it was linked), image_size up to
// l.End. Bss is not in the file: Ferry clears it at entry.
func Build(f *elf.File, l Layout) ([]byte, guest.ImageHeader, error) {
	var h guest.ImageHeader
	if f.Class != elf.ELFCLASS64 || f.Data != elf.ELFDATA2LSB || f.Machine != elf.EM_AARCH64 || f.Type != elf.ET_EXEC {
		return nil, h, fmt.Errorf("not a little-endian arm64 executable (%v %v %v %v)", f.Class, f.Data, f.Machine, f.Type)
	}
	var loads []*elf.Prog
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD && p.Memsz > 0 {
			loads = append(loads, p)
		}
	}
	if len(loads) == 0 {
		return nil, h, fmt.Errorf("no loadable segment")
	}
	slices.SortFunc(loads, func(a, b *elf.Prog) int { return cmp.Compare(a.Vaddr, b.Vaddr) })
	base := loads[0].Vaddr
	if loads[0].Off != 0 || loads[0].Filesz < guest.ImageHeaderSize {
		return nil, h, fmt.Errorf("the first segment (at %#x) does not start with the ELF header: the Image header would overwrite its contents", base)
	}
	if base%pageSize != 0 || base < l.RAMBase || base-l.RAMBase >= block {
		return nil, h, fmt.Errorf("link base %#x: want a page in the first 2 MiB of RAM from %#x (the Image is placed at DRAM base + text_offset)", base, l.RAMBase)
	}
	var fileEnd, memEnd uint64
	for i, p := range loads {
		if p.Paddr != p.Vaddr {
			return nil, h, fmt.Errorf("segment at %#x: physical address %#x differs", p.Vaddr, p.Paddr)
		}
		if p.Filesz > p.Memsz || p.Vaddr+p.Memsz < p.Vaddr {
			return nil, h, fmt.Errorf("segment at %#x: %d bytes in the file, %d in memory", p.Vaddr, p.Filesz, p.Memsz)
		}
		if i > 0 && p.Vaddr < loads[i-1].Vaddr+loads[i-1].Memsz {
			return nil, h, fmt.Errorf("segments at %#x and %#x overlap", loads[i-1].Vaddr, p.Vaddr)
		}
		fileEnd = max(fileEnd, p.Vaddr+p.Filesz)
		memEnd = max(memEnd, p.Vaddr+p.Memsz)
	}
	if fileEnd-base > maxFile {
		return nil, h, fmt.Errorf("image of %d bytes: over %d", fileEnd-base, maxFile)
	}
	if memEnd > l.End {
		return nil, h, fmt.Errorf("image ends at %#x (bss included), beyond its reservation's end %#x", memEnd, l.End)
	}
	entry := f.Entry
	exec := false
	for _, p := range loads {
		exec = exec || p.Flags&elf.PF_X != 0 && entry >= p.Vaddr && entry < p.Vaddr+p.Filesz
	}
	if !exec || entry < base+guest.ImageHeaderSize || entry%4 != 0 || entry-base >= maxBranch {
		return nil, h, fmt.Errorf("entry %#x: not an instruction of an executable segment that a B at %#x reaches", entry, base)
	}

	img := make([]byte, fileEnd-base)
	for _, p := range loads {
		if _, err := io.ReadFull(p.Open(), img[p.Vaddr-base:p.Vaddr-base+p.Filesz]); err != nil {
			return nil, h, fmt.Errorf("segment at %#x: %w", p.Vaddr, err)
		}
	}
	h = guest.ImageHeader{
		Code0:      opB | uint32((entry-base)/4),
		TextOffset: base - l.RAMBase,
		ImageSize:  l.End - base,
		Flags:      guest.FlagPage4K,
	}
	h.Put(img)
	return img, h, nil
}

// BranchTarget decodes code0 as a B instruction at offset 0 of the Image
// and returns its target's offset, or false if it is not one.
func BranchTarget(code0 uint32) (int64, bool) {
	if code0&0xfc000000 != opB {
		return 0, false
	}
	imm := int64(code0&0x03ffffff) << 38 >> 36 // sign-extend imm26, times 4
	return imm, true
}
