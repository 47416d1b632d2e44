// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// imageBoard is board() with Ferry as the arm64 Image (build/ferry.img)
// booted by QEMU's Linux loader, and junk over Ferry's bss, which a loader
// of a flat image does not clear (QEMU's RAM starts zeroed: without the
// junk a Ferry that forgot to clear its bss would pass).
func imageBoard(t *testing.T, appendArgs string) qemu.Board {
	b := board(t, false, appendArgs)
	b.Image, b.Insecure = artefact(t, "FERRY_IMAGE", "../../build/ferry.img"), false
	f, err := elf.Open(artefact(t, "FERRY_ELF", "../../build/ferry.elf"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var fileEnd, memEnd uint64
	for _, p := range f.Progs {
		if p.Type == elf.PT_LOAD {
			fileEnd, memEnd = max(fileEnd, p.Vaddr+p.Filesz), max(memEnd, p.Vaddr+p.Memsz)
		}
	}
	start := (fileEnd + 4095) &^ 4095 // the Image's own bytes end at fileEnd
	if memEnd <= start {
		t.Fatalf("no bss after the file's end %#x (memory end %#x)", fileEnd, memEnd)
	}
	junk := filepath.Join(t.TempDir(), "junk")
	if err := os.WriteFile(junk, bytes.Repeat([]byte{0xa5}, int(memEnd-start)), 0o644); err != nil {
		t.Fatal(err)
	}
	b.Extra = append(b.Extra, "-device", fmt.Sprintf("loader,file=%s,addr=%#x,force-raw=on", junk, start))
	t.Logf("junk over Ferry's bss [%#x, %#x)", start, memEnd)
	return b
}

// TestImageBoot boots Ferry as an arm64 Image with QEMU's own Linux
// loader: Ferry is entered at EL2 with the DTB in x0 (QEMU puts it after
// the Image's image_size), clears its bss, and boots the guest to
// userspace at EL1 -- with the initramfs named by ferry.initrd=, and with
// the one QEMU's -initrd put in /chosen.
func TestImageBoot(t *testing.T) {
	for _, tc := range []struct {
		name   string
		chosen bool
		initrd string
	}{
		{"ferry.initrd", false, `initrd \[0x[0-9a-f]+-0x[0-9a-f]+\) \(ferry\.initrd=\)`},
		{"chosen", true, `initrd \[0x48200000-0x[0-9a-f]+\) \(the loader's, from /chosen\)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := imageBoard(t, "guest.mode=counter")
			b.ChosenInitrd = tc.chosen
			p := start(t, b)
			expect(t, p, `^ferry: EL2, `, 0, 30*time.Second)
			dtb := "0x48200000"
			if tc.chosen {
				dtb = "0x48[4-9a-f]00000" // after the initramfs, at a 2 MiB boundary
			}
			expect(t, p, `^ferry: image at 0x401ff000 \(where it was linked\), firmware DTB at `+dtb+` \(x0, `, 0, 30*time.Second)
			expect(t, p, `^ferry: guest RAM .*`+tc.initrd, 0, 30*time.Second)
			_, i := expect(t, p, `CPU: All CPU\(s\) started at EL1$`, 0, bootTimeout)
			expect(t, p, `^FERRY-GUEST: userspace up`, i, bootTimeout)
			l1, i := expect(t, p, counter.String(), i, 30*time.Second)
			l2, _ := expect(t, p, counter.String(), i+1, 30*time.Second)
			m1, m2 := counter.FindStringSubmatch(l1.Text), counter.FindStringSubmatch(l2.Text)
			if m1[1] != m2[1] || atoi(t, m2[2]) != atoi(t, m1[2])+1 {
				t.Fatalf("counter does not count: %q then %q", l1.Text, l2.Text)
			}
		})
	}
}

// TestImageMisplaced: an Image a loader places elsewhere than its link
// address (here: its text_offset moved by 2 MiB, which QEMU honours)
// stops at entry with a line on the early UART, before any Go runs.
func TestImageMisplaced(t *testing.T) {
	b := board(t, false, "")
	b.Insecure = false
	img, err := os.ReadFile(artefact(t, "FERRY_IMAGE", "../../build/ferry.img"))
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint64(img[8:], binary.LittleEndian.Uint64(img[8:])+2<<20)
	b.Image = filepath.Join(t.TempDir(), "moved.img")
	if err := os.WriteFile(b.Image, img, 0o644); err != nil {
		t.Fatal(err)
	}
	p := start(t, b)
	expect(t, p, `^ferry: not running where linked \(Image at DRAM base \+ text_offset 0x1ff000 wanted\), stopping`, 0, 30*time.Second)
	if _, _, err := p.Expect(regexp.MustCompile(`^ferry: EL2`), 0, 2*time.Second); err == nil {
		t.Fatal("the misplaced image ran on")
	}
}
