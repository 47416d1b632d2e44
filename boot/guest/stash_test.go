// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package guest

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/config"
	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/phys"
)

// fakeRAM is guest RAM as bytes, by physical address.
type fakeRAM struct {
	ranges []phys.Range
	b      [][]byte
}

func newRAM(ranges ...phys.Range) *fakeRAM {
	m := &fakeRAM{ranges: ranges}
	for _, r := range ranges {
		m.b = append(m.b, make([]byte, r.Size))
	}
	return m
}

func (m *fakeRAM) Slice(addr uint64, n int) ([]byte, error) {
	for i, r := range m.ranges {
		if n >= 0 && addr >= r.Base && addr+uint64(n) >= addr && addr+uint64(n) <= r.End() {
			return m.b[i][addr-r.Base : addr-r.Base+uint64(n)], nil
		}
	}
	return nil, fmt.Errorf("[%#x+%#x] is not guest RAM", addr, n)
}

func (m *fakeRAM) at(addr uint64, n int) []byte {
	b, err := m.Slice(addr, n)
	if err != nil {
		panic(err)
	}
	return b
}

// smallRAM is 64 MiB of guest RAM, as on a board with the carve-out below.
var smallRAM = []phys.Range{{Base: 0x48000000, Size: 64 << 20}}

// testBoot places a 6 MiB kernel (image_size; its first 5 MiB loaded, the
// rest zero as its BSS) at 0x48200000 and a 1 MiB + 3 byte initramfs after
// it, as a loader would, and returns the layout.
func testBoot(t *testing.T, m *fakeRAM) *Layout {
	t.Helper()
	const kernel, size, initrd, isize = 0x48200000, 6 << 20, 0x48a00000, 1<<20 + 3
	cfg := config.Config{Kernel: kernel, InitrdBase: initrd, InitrdSize: isize, Guest: "console=ttyAMA0 guest.mode=shell"}
	rng := rand.New(rand.NewSource(1))
	rng.Read(m.at(kernel, 5<<20))
	copy(m.at(kernel, ImageHeaderSize), image(0, size, 0xa))
	rng.Read(m.at(initrd, isize))
	hdr, err := ParseImageHeader(m.at(kernel, ImageHeaderSize))
	if err != nil {
		t.Fatal(err)
	}
	l, err := Plan(m.ranges, cfg, hdr)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// The stash keeps what the loader placed: after the guest wrote over its
// kernel and initramfs (and everywhere else but the stash), LoadStash and
// Restore put back exactly what the first boot had, the layout is the
// first boot's, and the guest's memory is guest RAM less the stash.
func TestStashKeepsTheBoot(t *testing.T) {
	m := newRAM(smallRAM...)
	l := testBoot(t, m)
	kernel := bytes.Clone(m.at(l.Kernel, int(l.KernelEnd-l.Kernel)))
	initrd := bytes.Clone(m.at(l.Initrd.Base, int(l.Initrd.Size)))

	s, err := PlanStash(m.ranges, l)
	if err != nil {
		t.Fatal(err)
	}
	// 6 MiB + 1 MiB and a page + 3 bytes, and the record's page: 8 MiB
	// from a 2 MiB boundary at the top.
	if want := (phys.Range{Base: 0x48000000 + 56<<20, Size: 8 << 20}); s.Range != want {
		t.Fatalf("stash at %v, want %v", s.Range, want)
	}
	if mem := s.Memory(m.ranges); !slices.Equal(mem, []phys.Range{{Base: 0x48000000, Size: 56 << 20}}) {
		t.Fatalf("guest memory %v", mem)
	}
	if err := s.Keep(m); err != nil {
		t.Fatal(err)
	}

	// The guest runs: everything outside the stash is its own.
	rng := rand.New(rand.NewSource(2))
	rng.Read(m.b[0][:s.Range.Base-m.ranges[0].Base])

	got, err := LoadStash(m, m.ranges)
	if err != nil {
		t.Fatal(err)
	}
	if *got != *s {
		t.Fatalf("loaded %+v, kept %+v", got, s)
	}
	if err := got.Restore(m); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.at(l.Kernel, len(kernel)), kernel) || !bytes.Equal(m.at(l.Initrd.Base, len(initrd)), initrd) {
		t.Fatal("the kernel or initramfs restored differs from what the loader placed")
	}
	if again := got.Layout(m.ranges); *again != *l {
		t.Fatalf("layout %+v, first boot's %+v", again, l)
	}
}

// A board with RAM in two ranges (the i.MX8M Plus EVK's): the stash is at
// the top of the last one.
func TestStashTwoRanges(t *testing.T) {
	ram := []phys.Range{{Base: 0x48000000, Size: 32 << 20}, {Base: 0x100000000, Size: 16 << 20}}
	m := newRAM(ram...)
	l := testBoot(t, m)
	s, err := PlanStash(ram, l)
	if err != nil {
		t.Fatal(err)
	}
	if s.Range != (phys.Range{Base: 0x100000000 + 8<<20, Size: 8 << 20}) {
		t.Fatalf("stash at %v", s.Range)
	}
	if mem := s.Memory(ram); !slices.Equal(mem, []phys.Range{ram[0], {Base: 0x100000000, Size: 8 << 20}}) {
		t.Fatalf("guest memory %v", mem)
	}
	if err := s.Keep(m); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadStash(m, ram); err != nil {
		t.Fatal(err)
	}
}

func TestPlanStashRejects(t *testing.T) {
	m := newRAM(smallRAM...)
	l := testBoot(t, m)
	high := *l
	high.Initrd = phys.Range{Base: 0x48000000 + 62<<20, Size: 1 << 20}
	long := *l
	long.Bootargs = strings.Repeat("x", MaxBootargs+1)
	for name, c := range map[string]struct {
		ram  []phys.Range
		l    *Layout
		want string
	}{
		"initramfs at the top": {smallRAM, &high, "overlap the initramfs"},
		"no room":              {[]phys.Range{{Base: 0x48000000, Size: 4 << 20}}, l, "do not fit"},
		"over the kernel":      {[]phys.Range{{Base: 0x48000000, Size: 12 << 20}}, l, "overlap"},
		"command line":         {smallRAM, &long, "command line"},
		"no RAM":               {nil, l, "no guest RAM"},
	} {
		if _, err := PlanStash(c.ram, c.l); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want an error containing %q", name, err, c.want)
		}
	}
}

// What the guest may do to its stash is found before it is used: a copy
// or the record written over, the record missing, a record whose own
// checksum holds but which describes a stash Ferry never makes.
func TestLoadStashRefuses(t *testing.T) {
	fresh := func(t *testing.T) (*fakeRAM, *Stash) {
		m := newRAM(smallRAM...)
		s, err := PlanStash(m.ranges, testBoot(t, m))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Keep(m); err != nil {
			t.Fatal(err)
		}
		return m, s
	}
	// forge writes a record of s that is well formed (its checksum holds).
	forge := func(m *fakeRAM, s Stash) {
		page := m.at(smallRAM[0].End()-pageSize, pageSize)
		clear(page)
		copy(page, s.encode())
	}
	for name, c := range map[string]struct {
		spoil func(m *fakeRAM, s *Stash)
		want  string
	}{
		"kernel copy":      {func(m *fakeRAM, s *Stash) { m.at(s.kernelCopy().Base+4096, 1)[0] ^= 1 }, "wrote over them"},
		"initramfs copy":   {func(m *fakeRAM, s *Stash) { m.at(s.initrdCopy().End()-1, 1)[0] ^= 1 }, "wrote over them"},
		"record":           {func(m *fakeRAM, s *Stash) { m.at(s.record().Base+20, 1)[0] ^= 1 }, "record checksum"},
		"no record":        {func(m *fakeRAM, s *Stash) { clear(m.at(s.record().Base, pageSize)) }, ErrNoStash.Error()},
		"record truncated": {func(m *fakeRAM, s *Stash) { clear(m.at(s.record().Base+10, pageSize-10)) }, "record checksum"},
		"other version": {func(m *fakeRAM, s *Stash) {
			m.at(s.record().Base+uint64(len(stashMagic)), 1)[0] = 9
		}, "version 9"},
		"stash not at the top": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Range.Base, f.Range.Size = f.Range.Base+pageSize, f.Range.Size-pageSize
			forge(m, f)
		}, "not at the top"},
		"stash below the end": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Range.Size -= StashAlign
			forge(m, f)
		}, "not at the top"},
		"kernel over the DTB": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Kernel.Base = 0x48000000
			forge(m, f)
		}, "overlaps"},
		"kernel in the stash": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Kernel.Base = f.Range.Base
			forge(m, f)
		}, "not inside guest RAM"},
		"initramfs over the kernel": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Initrd.Base = f.Kernel.Base + 4096
			forge(m, f)
		}, "overlaps"},
		"kernel larger than the stash": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Kernel.Size = 1 << 62
			forge(m, f)
		}, "do not fit"},
		"kernel size wraps": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Kernel.Size = ^uint64(0) - 10
			forge(m, f)
		}, "not a range"},
		"kernel size not the Image's": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Kernel.Size -= 4096
			forge(m, f)
		}, "image_size"},
		"no kernel": {func(m *fakeRAM, s *Stash) {
			f := *s
			f.Kernel.Size = 0
			forge(m, f)
		}, "not a range"},
	} {
		t.Run(name, func(t *testing.T) {
			m, s := fresh(t)
			c.spoil(m, s)
			before := bytes.Clone(m.b[0])
			_, err := LoadStash(m, m.ranges)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error containing %q", err, c.want)
			}
			if !bytes.Equal(before, m.b[0]) {
				t.Fatal("LoadStash wrote to guest RAM")
			}
		})
	}
	m, s := fresh(t)
	clear(m.at(s.record().Base, pageSize))
	if _, err := LoadStash(m, m.ranges); !errors.Is(err, ErrNoStash) {
		t.Fatalf("no record: %v, want ErrNoStash", err)
	}
}

// The guest's device tree for a boot from the stash: its memory less the
// stash, the initramfs and command line of the boot, a fresh seed.
func TestDeviceTree(t *testing.T) {
	fw, err := os.ReadFile("../dtb/testdata/virt-gicv3-1g.dtb")
	if err != nil {
		t.Fatal(err)
	}
	ram := []phys.Range{{Base: 0x48000000, Size: 0x38000000}}
	l := &Layout{DTB: 0x48000000, Kernel: 0x48200000, KernelEnd: 0x49cb0000, Initrd: phys.Range{Base: 0x49e00000, Size: 0x106f5a}, Bootargs: "console=ttyAMA0"}
	mem := []phys.Range{{Base: 0x48000000, Size: 0x36000000}}
	blob, err := l.DeviceTree(fw, dtb.Patch{Memory: ram}, mem, bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	b, err := dtb.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(b.Memory, mem) || b.InitrdStart != l.Initrd.Base || b.InitrdEnd != l.Initrd.End() || b.Bootargs != l.Bootargs {
		t.Fatalf("memory %v, initrd [%#x, %#x), bootargs %q", b.Memory, b.InitrdStart, b.InitrdEnd, b.Bootargs)
	}
	if _, err := (&Layout{Bootargs: "a\x00b"}).DeviceTree(fw, dtb.Patch{}, mem, nil); err == nil {
		t.Fatal("a command line with a NUL byte was accepted")
	}
}

// FuzzLoadStash: whatever the guest wrote in the last page of its RAM,
// LoadStash returns an error or a stash whose every part lies where a
// boot may put it; it never panics and never writes.
func FuzzLoadStash(f *testing.F) {
	m := newRAM(smallRAM...)
	s, err := PlanStash(m.ranges, &Layout{DTB: 0x48000000, Kernel: 0x48200000, KernelEnd: 0x48400000, Initrd: phys.Range{Base: 0x48600000, Size: 5000}, Bootargs: "x"})
	if err != nil {
		f.Fatal(err)
	}
	copy(m.at(0x48200000, ImageHeaderSize), image(0, 0x200000, 0xa))
	if err := s.Keep(m); err != nil {
		f.Fatal(err)
	}
	f.Add(bytes.Clone(m.at(s.record().Base, pageSize)))
	f.Add(s.encode())
	f.Add([]byte{})
	page := m.at(s.record().Base, pageSize)
	f.Fuzz(func(t *testing.T, b []byte) {
		clear(page)
		copy(page, b)
		got, err := LoadStash(m, m.ranges)
		if err != nil {
			return
		}
		mem := got.Memory(m.ranges)
		in := func(r phys.Range) bool {
			return slices.ContainsFunc(mem, func(x phys.Range) bool { return x.Contains(r) })
		}
		if !in(got.Kernel) || got.Initrd.Size > 0 && !in(got.Initrd) || got.Range.End() != smallRAM[0].End() {
			t.Fatalf("accepted a stash outside the guest's memory: %+v", got)
		}
	})
}

// FuzzStashRecord: a record the guest forged with its checksums right --
// any stash, kernel and initramfs ranges, any command line -- is refused
// unless everything it says lies where a boot may put it; LoadStash never
// panics and never writes.
func FuzzStashRecord(f *testing.F) {
	m := newRAM(smallRAM...)
	l := &Layout{DTB: 0x48000000, Kernel: 0x48200000, KernelEnd: 0x48400000, Initrd: phys.Range{Base: 0x48600000, Size: 5000}, Bootargs: "x"}
	s, err := PlanStash(m.ranges, l)
	if err != nil {
		f.Fatal(err)
	}
	copy(m.at(0x48200000, ImageHeaderSize), image(0, 0x200000, 0xa))
	if err := s.Keep(m); err != nil {
		f.Fatal(err)
	}
	f.Add(s.Range.Base, s.Range.Size, s.Kernel.Base, s.Kernel.Size, s.Initrd.Base, s.Initrd.Size, s.Sum, "x")
	f.Add(s.Range.Base, s.Range.Size, uint64(0x48000000), s.Kernel.Size, uint64(0), uint64(0), s.Sum, "")
	page := m.at(s.record().Base, pageSize)
	// Where a restart from this stash would write: the DTB's area, the
	// kernel's and the initramfs's places.
	watched := func() []byte { return m.b[0][:l.Initrd.End()-smallRAM[0].Base] }
	before := bytes.Clone(watched())
	f.Fuzz(func(t *testing.T, sb, ss, kb, ks, ib, is uint64, sum uint32, args string) {
		if len(args) > MaxBootargs {
			return
		}
		forged := Stash{Range: phys.Range{Base: sb, Size: ss}, Kernel: phys.Range{Base: kb, Size: ks}, Initrd: phys.Range{Base: ib, Size: is}, Bootargs: args, Sum: sum}
		clear(page)
		copy(page, forged.encode())
		got, err := LoadStash(m, m.ranges)
		if !bytes.Equal(before, watched()) {
			t.Fatal("LoadStash wrote to guest RAM")
		}
		if err != nil {
			return
		}
		mem := got.Memory(m.ranges)
		in := func(r phys.Range) bool {
			return slices.ContainsFunc(mem, func(x phys.Range) bool { return x.Contains(r) })
		}
		dtbArea := phys.Range{Base: smallRAM[0].Base, Size: DTBMaxSize}
		if !in(got.Kernel) || got.Kernel.Overlaps(dtbArea) || got.Initrd.Size > 0 && (!in(got.Initrd) || got.Initrd.Overlaps(got.Kernel) || got.Initrd.Overlaps(dtbArea)) {
			t.Fatalf("accepted %+v", got)
		}
	})
}
