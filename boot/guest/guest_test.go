// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package guest

import (
	"encoding/binary"
	"github.com/ferry-hv/ferry/boot/config"
	"github.com/ferry-hv/ferry/phys"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
)

func image(textOffset, size, flags uint64) []byte {
	b := make([]byte, ImageHeaderSize)
	binary.LittleEndian.PutUint64(b[8:], textOffset)
	binary.LittleEndian.PutUint64(b[16:], size)
	binary.LittleEndian.PutUint64(b[24:], flags)
	binary.LittleEndian.PutUint32(b[56:], ImageMagic)
	return b
}

func TestParseImageHeader(t *testing.T) {
	h, err := ParseImageHeader(image(0, 0x1ab0000, 0xa))
	if err != nil || h.ImageSize != 0x1ab0000 || h.Flags != 0xa {
		t.Fatalf("%+v %v", h, err)
	}
	bad := map[string][]byte{
		"truncated":  image(0, 1, 0)[:40],
		"no magic":   append(image(0, 1, 0)[:56], 'g', 'z', 0, 0, 0, 0, 0, 0),
		"no size":    image(0, 0, 0),
		"big-endian": image(0, 1, 1),
	}
	for name, b := range bad {
		if _, err := ParseImageHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// guestRAM is the QEMU board's 1 GiB less Ferry's 128 MiB carve-out.
var guestRAM = []phys.Range{{Base: 0x48000000, Size: 0x38000000}}

func TestPlan(t *testing.T) {
	cfg := config.Config{Kernel: 0x48200000, InitrdBase: 0x49e00000, InitrdSize: 0x100000, Guest: "console=ttyAMA0"}
	l, err := Plan(guestRAM, cfg, ImageHeader{ImageSize: 0x1ab0000})
	if err != nil {
		t.Fatal(err)
	}
	if l.DTB != 0x48000000 || l.Kernel != 0x48200000 || l.KernelEnd != 0x49cb0000 {
		t.Fatalf("layout %+v", l)
	}
	machine := dtb.Patch{Memory: guestRAM, RemoveNodes: []string{"/fw-cfg@9020000"}}
	p := l.Patch(machine)
	if p.InitrdStart != 0x49e00000 || p.InitrdEnd != 0x49f00000 || p.Bootargs != "console=ttyAMA0" {
		t.Fatalf("patch %+v", p)
	}
	if len(p.RemoveNodes) != 1 || len(p.Memory) != 1 {
		t.Fatalf("the machine's part of the patch changed: %+v", p)
	}
	if p := (&Layout{}).Patch(machine); p.InitrdEnd != 0 || p.Bootargs != "" {
		t.Fatalf("no initramfs, no command line: %+v", p)
	}
}

func TestPlanRejects(t *testing.T) {
	hdr := ImageHeader{ImageSize: 0x1ab0000}
	cases := map[string]struct {
		cfg  config.Config
		want string
	}{
		"kernel misaligned":   {config.Config{Kernel: 0x48201000}, "2 MiB aligned"},
		"kernel over the DTB": {config.Config{Kernel: 0x48000000}, "overlaps"},
		"kernel in carve-out": {config.Config{Kernel: 0x40200000}, "not inside guest RAM"},
		"kernel past RAM":     {config.Config{Kernel: 0x7fe00000}, "not inside guest RAM"},
		"initrd over kernel":  {config.Config{Kernel: 0x48200000, InitrdBase: 0x49000000, InitrdSize: 0x1000}, "overlaps"},
		"initrd past RAM":     {config.Config{Kernel: 0x48200000, InitrdBase: 0x7ff00000, InitrdSize: 0x200000}, "not inside guest RAM"},
	}
	for name, c := range cases {
		if _, err := Plan(guestRAM, c.cfg, hdr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	small := []phys.Range{{Base: 0x48000000, Size: 0x200000}}
	if _, err := Plan(small, config.Config{Kernel: 0x48200000}, hdr); err == nil {
		t.Error("guest RAM with no room for a kernel was accepted")
	}
}
