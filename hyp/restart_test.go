// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/config"
	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/phys"
)

// ramFake is guest RAM as bytes, by physical address.
type ramFake struct {
	base uint64
	b    []byte
}

func (m *ramFake) Slice(addr uint64, n int) ([]byte, error) {
	if n < 0 || addr < m.base || addr+uint64(n) < addr || addr+uint64(n) > m.base+uint64(len(m.b)) {
		return nil, fmt.Errorf("[%#x+%#x] is not guest RAM", addr, n)
	}
	return m.b[addr-m.base : addr-m.base+uint64(n)], nil
}

func (m *ramFake) at(addr uint64, n int) []byte {
	b, err := m.Slice(addr, n)
	if err != nil {
		panic(err)
	}
	return b
}

// restartBoard is a board whose guest was booted from a loader's kernel
// and initramfs, with its boot stash kept, and which then ran and wrote
// over everything but the stash. events records the restart's steps.
type restartBoard struct {
	ram            *ramFake
	ranges         []phys.Range
	first          *guest.Layout
	kernel, initrd []byte // what the loader placed
	events         []string
	wrote          []phys.Range
	booted         *guest.Layout
}

func newRestartBoard(t *testing.T) *restartBoard {
	t.Helper()
	b := &restartBoard{ram: &ramFake{base: 0x48000000, b: make([]byte, 64<<20)}}
	b.ranges = []phys.Range{{Base: b.ram.base, Size: uint64(len(b.ram.b))}}
	const kernel, size, initrd, isize = 0x48200000, 6 << 20, 0x48a00000, 1<<20 + 3
	rng := rand.New(rand.NewSource(1))
	rng.Read(b.ram.at(kernel, 5<<20))
	hdr := b.ram.at(kernel, guest.ImageHeaderSize)
	clear(hdr)
	binary.LittleEndian.PutUint64(hdr[16:], size)
	binary.LittleEndian.PutUint32(hdr[56:], guest.ImageMagic)
	rng.Read(b.ram.at(initrd, isize))
	h, err := guest.ParseImageHeader(hdr)
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.Config{Kernel: kernel, InitrdBase: initrd, InitrdSize: isize, Guest: "console=ttyAMA0 guest.mode=shell"}
	if b.first, err = guest.Plan(b.ranges, cfg, h); err != nil {
		t.Fatal(err)
	}
	s, err := guest.PlanStash(b.ranges, b.first)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Keep(b.ram); err != nil {
		t.Fatal(err)
	}
	b.kernel = bytes.Clone(b.ram.at(kernel, size))
	b.initrd = bytes.Clone(b.ram.at(initrd, isize))
	// The guest ran.
	rng.Read(b.ram.b[:s.Range.Base-b.ram.base])
	return b
}

// restart is the board's restart, its steps recorded.
func (b *restartBoard) restart(t *testing.T) *restart {
	fw, err := os.ReadFile("../boot/dtb/testdata/virt-gicv3-1g.dtb")
	if err != nil {
		t.Fatal(err)
	}
	return &restart{
		ram: b.ram, guestRAM: b.ranges, firmwareDTB: fw,
		patch: dtb.Patch{Memory: b.ranges, RemoveNodes: []string{"/fw-cfg@9020000"}},
		seed:  func() []byte { return bytes.Repeat([]byte{0x5e}, 32) },
		resetDevices: func() {
			// Nothing of the new boot is in RAM yet: a device of the old
			// guest's that went on writing would hit the old guest's memory.
			if bytes.Equal(b.ram.at(b.first.Kernel, len(b.kernel)), b.kernel) {
				t.Error("the kernel was restored before the devices were reset")
			}
			b.events = append(b.events, "devices")
		},
		wrote: func(r phys.Range) { b.events = append(b.events, "wrote"); b.wrote = append(b.wrote, r) },
		sync:  func() { b.events = append(b.events, "sync") },
		resetCPU: func(l *guest.Layout) error {
			b.events = append(b.events, "cpu")
			b.booted = l
			return nil
		},
	}
}

// A guest reset: its devices first, then the kernel and initramfs exactly
// as the loader placed them, a new DTB (the guest's memory without the
// stash, its initramfs and command line, a fresh seed, the machine's
// devices removed), every byte Ferry wrote reported (cleaned to PoC and
// dirty while tracking), caches and TLB, and the CPU last, pointed at the
// first boot's layout.
func TestRestartFromStash(t *testing.T) {
	b := newRestartBoard(t)
	l, err := b.restart(t).run()
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"devices", "wrote", "wrote", "wrote", "sync", "cpu"}; !slices.Equal(b.events, want) {
		t.Fatalf("steps %v, want %v", b.events, want)
	}
	if *l != *b.first || *b.booted != *b.first {
		t.Fatalf("booted %+v, first boot %+v", l, b.first)
	}
	if !bytes.Equal(b.ram.at(l.Kernel, len(b.kernel)), b.kernel) || !bytes.Equal(b.ram.at(l.Initrd.Base, len(b.initrd)), b.initrd) {
		t.Fatal("the kernel or initramfs differs from what the loader placed")
	}
	blob := b.ram.at(l.DTB, guest.DTBMaxSize)
	d, err := dtb.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	mem := []phys.Range{{Base: 0x48000000, Size: 56 << 20}} // 64 MiB less the 8 MiB stash
	if !slices.Equal(d.Memory, mem) || d.Bootargs != l.Bootargs || d.InitrdStart != l.Initrd.Base || d.InitrdEnd != l.Initrd.End() {
		t.Fatalf("DTB: memory %v, bootargs %q, initrd [%#x, %#x)", d.Memory, d.Bootargs, d.InitrdStart, d.InitrdEnd)
	}
	if !bytes.Contains(blob, bytes.Repeat([]byte{0x5e}, 32)) || bytes.Contains(blob, []byte("fw-cfg@9020000")) {
		t.Fatal("the DTB lacks the fresh seed or keeps a device the machine removes")
	}
	want := []phys.Range{{Base: l.DTB, Size: b.wrote[0].Size}, {Base: l.Kernel, Size: 6 << 20}, l.Initrd}
	if !slices.Equal(b.wrote, want) || b.wrote[0].Size == 0 || b.wrote[0].Size > guest.DTBMaxSize {
		t.Fatalf("reported written %v, want %v", b.wrote, want)
	}

	// And again: a second reset from the same stash.
	b.events, b.wrote = nil, nil
	clear(b.ram.at(l.Kernel, len(b.kernel)))
	if _, err := b.restart(t).run(); err != nil || !bytes.Equal(b.ram.at(l.Kernel, len(b.kernel)), b.kernel) {
		t.Fatalf("second restart: %v", err)
	}
}

// A stash the guest damaged, or none (a guest booted by a Ferry that kept
// none, migrated here), restarts nothing: the devices are reset (the
// guest cannot run on) and guest RAM and the CPU are left alone.
func TestRestartRefusesDamagedStash(t *testing.T) {
	for name, c := range map[string]struct {
		spoil func(b *restartBoard)
		want  string
	}{
		"kernel copy": {func(b *restartBoard) { b.ram.b[len(b.ram.b)-(8<<20)+100] ^= 1 }, "wrote over them"},
		"no stash":    {func(b *restartBoard) { clear(b.ram.b[len(b.ram.b)-4096:]) }, "no boot stash"},
	} {
		t.Run(name, func(t *testing.T) {
			b := newRestartBoard(t)
			c.spoil(b)
			before := bytes.Clone(b.ram.b)
			_, err := b.restart(t).run()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("%v, want an error containing %q", err, c.want)
			}
			if name == "no stash" && !errors.Is(err, guest.ErrNoStash) {
				t.Fatalf("%v is not ErrNoStash", err)
			}
			if !slices.Equal(b.events, []string{"devices"}) || !bytes.Equal(before, b.ram.b) {
				t.Fatalf("steps %v; RAM changed: %v", b.events, !bytes.Equal(before, b.ram.b))
			}
		})
	}
}
