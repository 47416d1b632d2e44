// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-mkimage turns Ferry's ELF into a flat arm64 boot image: the
// ELF's loadable segments laid out from their link base, with the arm64
// Linux Image header (Documentation/arch/arm64/booting.rst) over the ELF
// header at the start, so that any loader that boots Linux -- QEMU's
// -kernel, U-Boot's booti, GRUB -- boots Ferry.
//
//	ferry-mkimage [-board virt|imx8mp] build/ferry.elf build/ferry.img
//
// The Image's first byte is the ELF's first page, a page below the text
// (0x401ff000 for a link at 0x4020_0000): text_offset 0x1ff000, flags 4K
// pages with bit 3 clear, so a loader places it at DRAM base + text_offset,
// where it was linked. image_size covers Ferry's carve-out and the slot of
// the guest's DTB after it (see Layout). make image runs it.
package main

import (
	"debug/elf"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/boot/imx8mp"
	"github.com/ferry-hv/ferry/boot/virt"
)

// boards are the layouts of the boards Ferry is built for: RAM's base, and
// the end of the carve-out plus the guest DTB's slot.
var boards = map[string]Layout{
	"virt":   {RAMBase: virt.RAMBase, End: virt.GuestBase + guest.DTBMaxSize},
	"imx8mp": {RAMBase: imx8mp.RAMBase, End: imx8mp.GuestBase + guest.DTBMaxSize},
}

func main() {
	board := flag.String("board", "virt", "the board the ELF was built for: virt or imx8mp")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: ferry-mkimage [-board virt|imx8mp] ferry.elf ferry.img\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	l, ok := boards[*board]
	if !ok || flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(flag.Arg(0), flag.Arg(1), l); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-mkimage:", err)
		os.Exit(1)
	}
}

func run(in, out string, l Layout) error {
	f, err := elf.Open(in)
	if err != nil {
		return err
	}
	defer f.Close()
	img, h, err := Build(f, l)
	if err != nil {
		return fmt.Errorf("%s: %w", in, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(out), ".ferry-mkimage-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(img); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return err
	}
	fmt.Printf("built %s: arm64 Image of %d bytes, loaded at %#x (text_offset %#x), image_size %#x (to %#x), entry %#x\n",
		out, len(img), l.RAMBase+h.TextOffset, h.TextOffset, h.ImageSize, l.RAMBase+h.TextOffset+h.ImageSize, f.Entry)
	return nil
}
