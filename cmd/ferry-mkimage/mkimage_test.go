// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"os"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/guest"
)

// seg is one PT_LOAD segment of a synthetic ELF: data at file offset off.
type seg struct {
	vaddr, off, memsz uint64
	data              []byte
	flags             elf.ProgFlag
}

// synthELF writes a little-endian arm64 executable with the given entry
// and segments (the ELF and program headers at offset 0, as Go's linker
// puts them in the first segment).
func synthELF(entry uint64, segs []seg) []byte {
	le := binary.LittleEndian
	size := uint64(64 + 56*len(segs))
	for _, s := range segs {
		size = max(size, s.off+uint64(len(s.data)))
	}
	b := make([]byte, size)
	for _, s := range segs {
		copy(b[s.off:], s.data)
	}
	copy(b, "\x7fELF\x02\x01\x01")
	le.PutUint16(b[16:], uint16(elf.ET_EXEC))
	le.PutUint16(b[18:], uint16(elf.EM_AARCH64))
	le.PutUint32(b[20:], 1)
	le.PutUint64(b[24:], entry)
	le.PutUint64(b[32:], 64) // phoff
	le.PutUint16(b[52:], 64) // ehsize
	le.PutUint16(b[54:], 56) // phentsize
	le.PutUint16(b[56:], uint16(len(segs)))
	for i, s := range segs {
		p := b[64+56*i:]
		le.PutUint32(p[0:], uint32(elf.PT_LOAD))
		le.PutUint32(p[4:], uint32(s.flags))
		le.PutUint64(p[8:], s.off)
		le.PutUint64(p[16:], s.vaddr)
		le.PutUint64(p[24:], s.vaddr)
		le.PutUint64(p[32:], uint64(len(s.data)))
		le.PutUint64(p[40:], s.memsz)
		le.PutUint64(p[48:], 0x1000)
	}
	return b
}

func fill(n int, v byte) []byte { return bytes.Repeat([]byte{v}, n) }

// ferryLike is laid out as Ferry's ELF is: the header page at 0x401ff000
// (offset 0) with the text at 0x40200000 in the same segment, read-only
// data, then data with a bss beyond the file.
func ferryLike() (entry uint64, segs []seg) {
	text := append(fill(0x1000, 0), fill(0x3000, 0xcc)...)
	return 0x40201a40, []seg{
		{vaddr: 0x401ff000, off: 0, memsz: uint64(len(text)), data: text, flags: elf.PF_R | elf.PF_X},
		{vaddr: 0x40203000 + 0x1000, off: 0x4000, memsz: 0x800, data: fill(0x800, 0x77), flags: elf.PF_R},
		{vaddr: 0x40206000, off: 0x5000, memsz: 0x20000, data: fill(0x300, 0x55), flags: elf.PF_R | elf.PF_W},
	}
}

var virtLayout = Layout{RAMBase: 0x40000000, End: 0x48200000}

func build(t *testing.T, entry uint64, segs []seg, l Layout) ([]byte, guest.ImageHeader, error) {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(synthELF(entry, segs)))
	if err != nil {
		t.Fatal(err)
	}
	return Build(f, l)
}

// TestBuild checks every field of the header Build writes and that every
// segment lands at its link address less the load address.
func TestBuild(t *testing.T) {
	entry, segs := ferryLike()
	img, h, err := build(t, entry, segs, virtLayout)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	// code0: a B from the Image's first byte (0x401ff000) to the entry.
	if off, ok := BranchTarget(le.Uint32(img[0:])); !ok || 0x401ff000+uint64(off) != entry {
		t.Errorf("code0 %#08x: B to %#x, %v; want a B to the entry %#x", le.Uint32(img[0:]), off, ok, entry)
	}
	if c1 := le.Uint32(img[4:]); c1 != 0 {
		t.Errorf("code1 = %#x, want 0", c1)
	}
	for _, f := range []struct {
		name      string
		off, want uint64
	}{
		{"text_offset", 8, 0x1ff000},
		{"image_size", 16, 0x48200000 - 0x401ff000},
		{"flags (LE, 4K pages, bit 3 clear: at DRAM base + text_offset)", 24, 0x2},
		{"res2", 32, 0}, {"res3", 40, 0}, {"res4", 48, 0},
	} {
		if got := le.Uint64(img[f.off:]); got != f.want {
			t.Errorf("%s = %#x, want %#x", f.name, got, f.want)
		}
	}
	if m := string(img[56:60]); m != "ARM\x64" {
		t.Errorf("magic %q", m)
	}
	if r := le.Uint32(img[60:]); r != 0 {
		t.Errorf("res5 = %#x, want 0 (no PE/COFF header)", r)
	}
	parsed, err := guest.ParseImageHeader(img)
	if err != nil || parsed != h {
		t.Errorf("ParseImageHeader = %+v, %v; Build said %+v", parsed, err, h)
	}
	// The file ends with the last segment's file bytes; the bss is not in it.
	if want := 0x40206000 + 0x300 - 0x401ff000; len(img) != want {
		t.Fatalf("image is %d bytes, want %d", len(img), want)
	}
	elfBytes := synthELF(entry, segs)
	if !bytes.Equal(img[64:0x1000], elfBytes[64:0x1000]) {
		t.Error("the rest of the header page differs from the ELF's")
	}
	for _, s := range segs[1:] {
		if at := s.vaddr - 0x401ff000; !bytes.Equal(img[at:at+uint64(len(s.data))], s.data) {
			t.Errorf("segment at %#x not at image offset %#x", s.vaddr, at)
		}
	}
	if !bytes.Equal(img[0x1000:0x4000], fill(0x3000, 0xcc)) {
		t.Error("text not at 0x40200000")
	}
	// The gap between rodata's end and data is zero.
	if !bytes.Equal(img[0x40204800-0x401ff000:0x40206000-0x401ff000], fill(0x1800, 0)) {
		t.Error("gap between segments not zero")
	}
}

func TestBuildRejects(t *testing.T) {
	entry, segs := ferryLike()
	change := func(fn func(s []seg)) []seg {
		c := append([]seg(nil), segs...)
		fn(c)
		return c
	}
	for name, tc := range map[string]struct {
		entry uint64
		segs  []seg
		l     Layout
		want  string
	}{
		"entry in the header":       {0x401ff010, segs, virtLayout, "entry"},
		"entry in data":             {0x40206010, segs, virtLayout, "entry"},
		"entry unaligned":           {entry + 2, segs, virtLayout, "entry"},
		"entry past the text":       {0x40203000, segs, virtLayout, "entry"},
		"bss beyond the end":        {entry, segs, Layout{RAMBase: 0x40000000, End: 0x40210000}, "beyond"},
		"link base 2 MiB away":      {entry, segs, Layout{RAMBase: 0x3fe00000, End: 0x48200000}, "link base"},
		"link base below RAM":       {entry, segs, Layout{RAMBase: 0x40200000, End: 0x48200000}, "link base"},
		"no ELF header at the base": {entry, change(func(s []seg) { s[0].off = 0x6000 }), virtLayout, "ELF header"},
		"overlapping segments":      {entry, change(func(s []seg) { s[1].vaddr = 0x40202000 }), virtLayout, "overlap"},
		"unaligned base": {entry, change(func(s []seg) {
			s[0].vaddr, s[0].off, s[0].data = 0x401ff800, 0, s[0].data[:0x800]
		}), virtLayout, "link base"},
	} {
		if _, _, err := build(t, tc.entry, tc.segs, tc.l); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one naming %q", name, err, tc.want)
		}
	}
}

// TestBuiltImage checks the images make image built, when there are: the
// header parses, code0 branches to the ELF's entry (TamaGo's
// _rt0_arm64_tamago), and the Image is the ELF's segments.
func TestBuiltImage(t *testing.T) {
	for name, board := range map[string]string{"ferry": "virt", "ferry-imx8mp": "imx8mp"} {
		elfPath, imgPath := "../../build/"+name+".elf", "../../build/"+name+".img"
		img, err := os.ReadFile(imgPath)
		if err != nil {
			t.Logf("%s: %v (make image builds it)", imgPath, err)
			continue
		}
		f, err := elf.Open(elfPath)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		h, err := guest.ParseImageHeader(img)
		if err != nil {
			t.Fatalf("%s: %v", imgPath, err)
		}
		off, ok := BranchTarget(h.Code0)
		if !ok || 0x40000000+h.TextOffset+uint64(off) != f.Entry || h.TextOffset != 0x1ff000 || h.Flags != guest.FlagPage4K {
			t.Errorf("%s: %+v: code0 to %#x, want the entry %#x", imgPath, h, off, f.Entry)
		}
		syms, _ := f.Symbols()
		for _, s := range syms {
			if s.Name == "_rt0_arm64_tamago" && s.Value != f.Entry {
				t.Errorf("%s: entry %#x is not _rt0_arm64_tamago (%#x)", elfPath, f.Entry, s.Value)
			}
		}
		ie, _ := os.Stat(imgPath)
		ee, _ := os.Stat(elfPath)
		if ee.ModTime().After(ie.ModTime()) {
			t.Logf("%s is older than %s: not compared (make image builds both)", imgPath, elfPath)
			continue
		}
		if rebuilt, _, err := Build(f, boards[board]); err != nil || !bytes.Equal(rebuilt, img) {
			t.Errorf("%s is not %s's segments with the header (stale? make image): %v", imgPath, elfPath, err)
		}
	}
}
