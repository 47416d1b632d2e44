// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package guest

import (
	"fmt"

	"github.com/ferry-hv/ferry/boot/config"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/phys"
)

const (
	blockSize = 2 << 20 // the arm64 kernel's base must be 2 MiB aligned
	// DTBMaxSize is the largest DTB the arm64 boot protocol allows.
	DTBMaxSize = 2 << 20
)

// Layout is where everything the guest starts with lives in guest RAM.
type Layout struct {
	DTB       uint64     // the patched DTB goes here, at the start of guest RAM
	Kernel    uint64     // the kernel Image's first byte: the entry point
	KernelEnd uint64     // Kernel + image_size
	Initrd    phys.Range // zero Size: no initramfs
	Bootargs  string     // the guest's command line
}

// Plan lays the guest out in guest RAM (the machine description's) and
// checks that what the loader placed fits: the DTB at the start, the
// kernel and initramfs where the loader put them, none overlapping.
func Plan(ram []phys.Range, cfg config.Config, hdr ImageHeader) (*Layout, error) {
	if len(ram) == 0 || ram[0].Size < 2*DTBMaxSize {
		return nil, fmt.Errorf("plan: guest RAM %v has no room for a DTB and a kernel", ram)
	}
	l := &Layout{DTB: ram[0].Base, Kernel: cfg.Kernel, KernelEnd: cfg.Kernel + hdr.ImageSize, Bootargs: cfg.Guest}
	if (cfg.Kernel-hdr.TextOffset)%blockSize != 0 {
		return nil, fmt.Errorf("plan: kernel at %#x: Image minus text_offset %#x must be 2 MiB aligned", cfg.Kernel, hdr.TextOffset)
	}
	dtbArea := phys.Range{Base: l.DTB, Size: DTBMaxSize}
	kernel := phys.Range{Base: cfg.Kernel, Size: hdr.ImageSize}
	if err := check(ram, "kernel", kernel, dtbArea); err != nil {
		return nil, err
	}
	if cfg.InitrdSize > 0 {
		l.Initrd = phys.Range{Base: cfg.InitrdBase, Size: cfg.InitrdSize}
		if err := check(ram, "initramfs", l.Initrd, dtbArea, kernel); err != nil {
			return nil, err
		}
	}
	return l, nil
}

// Patch adds the boot's part to the machine's DTB patch: the initramfs
// and the guest's command line.
func (l *Layout) Patch(p dtb.Patch) dtb.Patch {
	p.InitrdStart, p.InitrdEnd = l.Initrd.Base, l.Initrd.End()
	p.Bootargs = l.Bootargs
	return p
}

// check makes sure r lies in guest RAM and overlaps none of others.
func check(ram []phys.Range, what string, r phys.Range, others ...phys.Range) error {
	in := false
	for _, m := range ram {
		in = in || m.Contains(r)
	}
	if !in {
		return fmt.Errorf("plan: %s %v is not inside guest RAM %v", what, r, ram)
	}
	for _, o := range others {
		if r.Overlaps(o) {
			return fmt.Errorf("plan: %s %v overlaps %v", what, r, o)
		}
	}
	return nil
}

// DeviceTree is the guest's device tree for the boot l: the firmware's (fw) with
// the machine's patch p (the devices it removes), l's initramfs and
// command line, the guest's memory mem (guest RAM less the boot stash) and
// a fresh rng-seed. It is at most DTBMaxSize bytes, the boot protocol's
// limit.
func (l *Layout) DeviceTree(fw []byte, p dtb.Patch, mem []phys.Range, seed []byte) ([]byte, error) {
	p = l.Patch(p)
	p.Memory, p.RNGSeed = mem, seed
	blob, err := dtb.Apply(fw, p)
	if err != nil {
		return nil, err
	}
	if len(blob) > DTBMaxSize {
		return nil, fmt.Errorf("patched DTB is %d bytes, over the boot protocol's %d", len(blob), DTBMaxSize)
	}
	return blob, nil
}
