// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// TestUBootBooti boots Ferry's Image (build/ferry.img) with U-Boot's
// booti, as a board whose firmware is U-Boot boots Linux: Debian's
// u-boot-qemu (qemu_arm64) as -bios, its environment in flash
// (qemu.Board.UBootVars), its own fw_cfg boot: `qfw load` puts the Image
// at kernel_addr_r, the initramfs at ramdisk_addr_r and -append in
// bootargs, booti moves the Image to DRAM base + text_offset and enters it
// at EL2 with its DTB in x0, the initramfs in /chosen. Ferry runs where it
// was linked, takes U-Boot's DTB, its words from /chosen/bootargs and the
// initramfs from /chosen, and the guest reaches userspace and counts.
//
// On the board without security states: on secure=on U-Boot runs at EL3
// and drops to EL2 for booti with SMC disabled and no PSCI of its own
// (docs/decisions.md, "Ferry is an arm64 boot image").
func TestUBootBooti(t *testing.T) {
	b, ramdisk := ubootBoard(t, true)
	p := start(t, b)
	expect(t, p, `^U-Boot \d{4}\.\d{2}`, 0, 30*time.Second)
	expect(t, p, `^Loading Environment from Flash\.\.\. OK`, 0, 30*time.Second)
	expect(t, p, `^Moving Image from 0x40400000 to 0x401ff000,`, 0, 30*time.Second)
	l, _ := expect(t, p, `Booting using the fdt blob at 0x[0-9a-f]+$`, 0, 30*time.Second)
	fdt := l.Text[strings.LastIndex(l.Text, " ")+1:]
	expect(t, p, `^Starting kernel`, 0, 30*time.Second)
	expect(t, p, `^ferry: EL2, `, 0, 30*time.Second)
	expect(t, p, `^ferry: image at 0x401ff000 \(where it was linked\), firmware DTB at `+regexp.QuoteMeta(fdt)+` \(x0, `, 0, 30*time.Second)
	expect(t, p, `^ferry: guest RAM .* kernel \[0x48200000, .* initrd \[`+regexp.QuoteMeta(ramdisk)+`-0x[0-9a-f]+\) \(the loader's, from /chosen\)`, 0, 30*time.Second)
	_, i := expect(t, p, `CPU: All CPU\(s\) started at EL1$`, 0, bootTimeout)
	expect(t, p, `Kernel command line: console=ttyAMA0 guest\.mode=counter$`, 0, bootTimeout)
	expect(t, p, `^FERRY-GUEST: userspace up`, i, bootTimeout)
	l1, i := expect(t, p, counter.String(), i, 30*time.Second)
	l2, _ := expect(t, p, counter.String(), i+1, 30*time.Second)
	m1, m2 := counter.FindStringSubmatch(l1.Text), counter.FindStringSubmatch(l2.Text)
	if m1[1] != m2[1] || atoi(t, m2[2]) != atoi(t, m1[2])+1 {
		t.Fatalf("counter does not count: %q then %q", l1.Text, l2.Text)
	}
	t.Logf("U-Boot to the guest's second count: %v", l2.At.Sub(p.Started()).Round(100*time.Millisecond))
}

// ubootBoard is the guest's board with Ferry's Image booted by U-Boot (its
// environment written), and where U-Boot puts the initramfs.
func ubootBoard(t *testing.T, insecure bool) (qemu.Board, string) {
	b := board(t, false, "guest.mode=counter")
	fw := envOr("FERRY_UBOOT", "/usr/lib/u-boot/qemu_arm64/u-boot.bin")
	if _, err := os.Stat(fw); err != nil {
		t.Skipf("U-Boot for QEMU's virt board: %v (apt-get install u-boot-qemu; make system installs it)", err)
	}
	b.Image = artefact(t, "FERRY_IMAGE", "../../build/ferry.img")
	b.Insecure, b.Firmware, b.ChosenInitrd = insecure, fw, true
	vars, err := b.UBootVars()
	if err != nil {
		t.Fatal(err)
	}
	var ramdisk string
	for _, v := range vars {
		if a, ok := strings.CutPrefix(v, "ramdisk_addr_r="); ok {
			ramdisk = a
		}
	}
	b.FirmwareEnv = filepath.Join(t.TempDir(), "uboot-env.img")
	if err := qemu.WriteUBootEnv(b.FirmwareEnv, vars); err != nil {
		t.Fatal(err)
	}
	t.Logf("U-Boot's environment: %q", vars)
	return b, ramdisk
}

// TestUBootSecureRefused: on secure=on U-Boot itself runs at EL3, with no
// PSCI of its own and SMC disabled below it, and QEMU leaves /psci out of
// the DTB. Ferry, booted at EL2 all the same, says why it cannot run there
// and halts -- it neither executes an SMC (UNDEFINED there: a fatal
// exception at EL2, taken again by the power-off's own SMC) nor starts the
// guest.
func TestUBootSecureRefused(t *testing.T) {
	b, _ := ubootBoard(t, false)
	p := start(t, b)
	expect(t, p, `^ferry: EL2, `, 0, 30*time.Second)
	expect(t, p, `machine: the DTB has no /psci node: Ferry needs the firmware's PSCI over SMC`, 0, 30*time.Second)
	_, i := expect(t, p, `^ferry: no PSCI over SMC to power the board off with: halted`, 0, 30*time.Second)
	time.Sleep(time.Second)
	for _, l := range p.Lines()[i:] {
		if strings.Contains(l.Text, "FATAL") || strings.Contains(l.Text, "Booting Linux") {
			t.Fatalf("after the refusal: %q", l.Text)
		}
	}
	for _, l := range p.Lines() {
		if strings.Contains(l.Text, "FATAL exception") {
			t.Fatalf("an exception at EL2: %q", l.Text)
		}
	}
}
