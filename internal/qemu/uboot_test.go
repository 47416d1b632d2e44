// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package qemu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestUBootEnv: the block U-Boot's env_import accepts: the CRC of the
// rest, then name=value strings, each NUL-terminated, and an empty one.
func TestUBootEnv(t *testing.T) {
	env, err := UBootEnv([]string{"bootdelay=0", "bootcmd=echo a=b; booti"})
	if err != nil {
		t.Fatal(err)
	}
	if len(env) != UBootEnvSize {
		t.Fatalf("%d bytes, want %d", len(env), UBootEnvSize)
	}
	if got, want := binary.LittleEndian.Uint32(env), crc32.ChecksumIEEE(env[4:]); got != want {
		t.Errorf("CRC %#x, want %#x", got, want)
	}
	want := "bootdelay=0\x00bootcmd=echo a=b; booti\x00\x00"
	if got := string(env[4 : 4+len(want)]); got != want {
		t.Errorf("data %q, want %q", got, want)
	}
	if !bytes.Equal(env[4+len(want):], make([]byte, UBootEnvSize-4-len(want))) {
		t.Error("not zero after the data")
	}
	for _, bad := range [][]string{{"novalue"}, {"=value"}, {"a=b\x00c"}, {"big=" + strings.Repeat("x", UBootEnvSize-9)}} {
		if _, err := UBootEnv(bad); err == nil {
			t.Errorf("%.20q accepted", bad)
		}
	}
	// The largest that fits: the variable, its NUL and the final NUL.
	if _, err := UBootEnv([]string{"big=" + strings.Repeat("x", UBootEnvSize-10)}); err != nil {
		t.Errorf("a variable that fits refused: %v", err)
	}
}

// TestWriteUBootEnv: a whole flash bank (QEMU refuses a pflash file of
// another size) with the block at its base (CONFIG_ENV_ADDR).
func TestWriteUBootEnv(t *testing.T) {
	p := filepath.Join(t.TempDir(), "env.img")
	vars := []string{"bootdelay=0"}
	if err := WriteUBootEnv(p, vars); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := UBootEnv(vars)
	if len(got) != FlashBankSize || !bytes.Equal(got[:UBootEnvSize], env) {
		t.Fatalf("%d bytes, block at 0 %v; want %d bytes, the block at 0", len(got), bytes.Equal(got[:min(len(got), UBootEnvSize)], env), FlashBankSize)
	}
	if err := WriteUBootEnv(filepath.Join(t.TempDir(), "bad.img"), []string{"x"}); err == nil {
		t.Error("a bad variable written")
	}
}

// TestArgsUBoot: U-Boot as -bios with its environment in the second flash
// bank; -kernel, -initrd and -append go to it through fw_cfg; the guest's
// kernel at the start of guest RAM after the DTB's slot (booti's copy of
// the Image ends below it); the environment puts the initramfs after it.
func TestArgsUBoot(t *testing.T) {
	ferry := writeFerryImage(t)
	initrd := filepath.Join(t.TempDir(), "initrd")
	os.WriteFile(initrd, make([]byte, 0x32fcf6), 0o644)
	b := Board{CPU: "max", Memory: "1G", Image: ferry, Kernel: writeKernel(t, 0x1ab0000), Initrd: initrd, Append: "console=ttyAMA0",
		Insecure: true, Firmware: "/usr/lib/u-boot/qemu_arm64/u-boot.bin", FirmwareEnv: "/tmp/a,b/env.img"}
	for _, tc := range []struct {
		chosen     bool
		want, lack []string
		vars       []string
	}{
		{false, []string{
			"-M virt,virtualization=on,gic-version=3 ",
			"-bios " + b.Firmware + " -drive if=pflash,unit=1,format=raw,readonly=on,file=/tmp/a,,b/env.img -kernel " + ferry,
			"loader,file=" + b.Kernel + ",addr=0x48200000,force-raw=on",
			"loader,file=" + initrd + ",addr=0x49e00000,force-raw=on",
			"-append ferry.kernel=0x48200000 ferry.initrd=0x49e00000,0x32fcf6 -- console=ttyAMA0",
		}, []string{"-initrd"}, []string{
			"kernel_addr_r=0x40400000",
			"ramdisk_addr_r=0x4a200000", // after the loader's initramfs: qfw's command line goes there
			"bootcmd=qfw load ${kernel_addr_r} ${ramdisk_addr_r} && booti ${kernel_addr_r} - ${fdtcontroladdr}",
		}},
		{true, []string{
			"-kernel " + ferry + " -initrd " + initrd,
			"loader,file=" + b.Kernel + ",addr=0x48200000,force-raw=on",
			"-append ferry.kernel=0x48200000 -- console=ttyAMA0",
		}, []string{"ferry.initrd", "loader,file=" + initrd}, []string{
			"ramdisk_addr_r=0x49e00000",
			"bootcmd=qfw load ${kernel_addr_r} ${ramdisk_addr_r} && booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}",
		}},
	} {
		b.ChosenInitrd = tc.chosen
		checkArgs(t, b, fmt.Sprintf("chosen %v", tc.chosen), tc.want, tc.lack)
		vars, err := b.UBootVars()
		if err != nil {
			t.Fatal(err)
		}
		all := strings.Join(vars, "\n")
		for _, w := range append(tc.vars, "bootdelay=0", "fdt_high=0xffffffffffffffff", "initrd_high=0xffffffffffffffff") {
			if !strings.Contains("\n"+all+"\n", "\n"+w+"\n") {
				t.Errorf("chosen %v: environment lacks %q:\n%s", tc.chosen, w, all)
			}
		}
	}
	b.Image = writeELF(t)
	if _, err := b.Args(); err == nil || !strings.Contains(err.Error(), "booti") {
		t.Errorf("Ferry's ELF under U-Boot: %v, want a refusal (booti boots an arm64 Image)", err)
	}
	b.Kernel = ""
	if _, err := b.UBootVars(); err == nil {
		t.Error("an environment without a guest kernel")
	}
}
