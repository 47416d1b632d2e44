// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package qemu

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/guest"
)

func TestMemoryBytes(t *testing.T) {
	for in, want := range map[string]uint64{"1G": 1 << 30, "512M": 512 << 20, "640": 640 << 20, "2g": 2 << 30, "4096K": 4 << 20} {
		if got, err := MemoryBytes(in); err != nil || got != want {
			t.Errorf("%q = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "G", "1.5G", "-1M", "0"} {
		if _, err := MemoryBytes(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func writeKernel(t *testing.T, size uint64) string {
	b := make([]byte, 4096)
	binary.LittleEndian.PutUint64(b[16:], size)
	binary.LittleEndian.PutUint32(b[56:], guest.ImageMagic)
	p := filepath.Join(t.TempDir(), "Image")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeELF writes the start of an ELF (what QEMU's -kernel enters at EL3
// on the board with security states).
func writeELF(t *testing.T) string {
	b := make([]byte, 4096)
	copy(b, "\x7fELF")
	p := filepath.Join(t.TempDir(), "ferry.elf")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeFerryImage writes the header of Ferry's arm64 Image as
// cmd/ferry-mkimage does (linked 0x1ff000 into RAM, image_size up to
// 0x48200000).
func writeFerryImage(t *testing.T) string {
	img := make([]byte, 4096)
	guest.ImageHeader{TextOffset: 0x1ff000, ImageSize: 0x48200000 - 0x401ff000, Flags: guest.FlagPage4K}.Put(img)
	p := filepath.Join(t.TempDir(), "ferry.img")
	if err := os.WriteFile(p, img, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestArgsUnderFerry: the board without security states (Insecure), on
// which QEMU enters Ferry's ELF at EL2 with its DTB at the base of RAM.
func TestArgsUnderFerry(t *testing.T) {
	initrd := filepath.Join(t.TempDir(), "initrd")
	os.WriteFile(initrd, make([]byte, 0x1234), 0o644)
	b := Board{CPU: "max", Memory: "1G", Image: writeELF(t), Insecure: true, Kernel: writeKernel(t, 0x1ab0000), Initrd: initrd, Append: "console=ttyAMA0 quiet"}
	args, err := b.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-M virt,virtualization=on,gic-version=3", "-cpu max", "-m 1G", "-nodefaults", "-nic none",
		"-kernel " + b.Image,
		"loader,file=" + b.Kernel + ",addr=0x48200000,force-raw=on",
		// initrd at the first 2 MiB boundary after the kernel's 0x1ab0000 bytes
		"loader,file=" + initrd + ",addr=0x49e00000,force-raw=on",
		"ferry.kernel=0x48200000 ferry.initrd=0x49e00000,0x1234 -- console=ttyAMA0 quiet",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	if strings.Contains(line, "user") || strings.Contains(line, "-netdev") {
		t.Errorf("a board must have no network path out: %s", line)
	}
}

// TestArgsLinuxLoader: by default the board has its security states and
// Ferry's Image goes to QEMU's Linux loader; the guest's kernel after
// QEMU's DTB, which QEMU puts at the first 2 MiB boundary after Ferry's
// image_size (0x48200000), or after an -initrd that goes first.
func TestArgsLinuxLoader(t *testing.T) {
	ferry := writeFerryImage(t)
	initrd := filepath.Join(t.TempDir(), "initrd")
	os.WriteFile(initrd, make([]byte, 0x32fcf6), 0o644)
	b := Board{CPU: "max", Memory: "1G", Image: ferry, Kernel: writeKernel(t, 0x1ab0000), Initrd: initrd, Append: "console=ttyAMA0"}
	for _, tc := range []struct {
		chosen     bool
		want, lack []string
	}{
		{false, []string{
			"-M virt,secure=on,virtualization=on,gic-version=3 ", "-kernel " + ferry,
			"loader,file=" + b.Kernel + ",addr=0x48400000,force-raw=on",
			"loader,file=" + initrd + ",addr=0x4a000000,force-raw=on",
			"ferry.kernel=0x48400000 ferry.initrd=0x4a000000,0x32fcf6 -- console=ttyAMA0",
		}, []string{"-initrd"}},
		// The initramfs at 0x48200000, QEMU's DTB at 0x48600000.
		{true, []string{
			"-kernel " + ferry, "-initrd " + initrd,
			"loader,file=" + b.Kernel + ",addr=0x48800000,force-raw=on",
			"-append ferry.kernel=0x48800000 -- console=ttyAMA0",
		}, []string{"ferry.initrd", "loader,file=" + initrd}},
	} {
		b.ChosenInitrd = tc.chosen
		checkArgs(t, b, fmt.Sprintf("chosen %v", tc.chosen), tc.want, tc.lack)
	}
	b.Image, b.Insecure = writeELF(t), true
	if _, err := b.Args(); err == nil {
		t.Error("-initrd for Ferry's ELF accepted: QEMU's ELF loader fills no /chosen")
	}
	b.ChosenInitrd, b.Insecure = false, false
	if _, err := b.Args(); err == nil || !strings.Contains(err.Error(), "EL3") {
		t.Errorf("Ferry's ELF on the board with security states: %v, want a refusal (QEMU enters an ELF at EL3 there)", err)
	}
}

func TestArgsNative(t *testing.T) {
	b := Board{CPU: "max", Memory: "512M", Kernel: "Image", Initrd: "initrd", Append: "console=ttyAMA0"}
	args, err := b.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	if !strings.Contains(line, "-M virt,secure=on,") || !strings.Contains(line, "-kernel Image -append console=ttyAMA0 -initrd initrd") || strings.Contains(line, "ferry.") {
		t.Fatalf("native command line: %s", line)
	}
}

func TestArgsRejects(t *testing.T) {
	initrd := filepath.Join(t.TempDir(), "initrd")
	os.WriteFile(initrd, make([]byte, 600<<20), 0o644)
	notImage := filepath.Join(t.TempDir(), "vmlinuz.gz")
	os.WriteFile(notImage, make([]byte, 4096), 0o644)
	f := writeFerryImage(t)
	for name, b := range map[string]Board{
		"bad memory":     {Memory: "lots", Kernel: "k"},
		"no kernel":      {Memory: "1G"},
		"not an Image":   {Memory: "1G", Image: f, Kernel: notImage},
		"initrd too big": {Memory: "512M", Image: f, Kernel: writeKernel(t, 0x1ab0000), Initrd: initrd},
		"missing kernel": {Memory: "1G", Image: f, Kernel: "/nonexistent/Image"},
		"missing Ferry":  {Memory: "1G", Image: "/nonexistent/ferry.img", Kernel: writeKernel(t, 0x1ab0000)},
		"ELF, secure":    {Memory: "1G", Image: writeELF(t), Kernel: writeKernel(t, 0x1ab0000)},
	} {
		if _, err := b.Args(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestArgsManagementNetwork(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "a.pem")
	os.WriteFile(keys, make([]byte, 0x2a0), 0o644)
	b := Board{CPU: "max", Memory: "1G", Image: writeELF(t), Insecure: true, Kernel: writeKernel(t, 0x1ab0000), Append: "console=ttyAMA0",
		Switch: "127.0.0.1:7777", Name: "a", IP: "10.77.0.11/24", MAC: "52:54:00:77:00:11", Keys: keys}
	args, err := b.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, want := range []string{
		"-netdev socket,id=mgmt,connect=127.0.0.1:7777",
		"-device virtio-net-device,netdev=mgmt,mac=52:54:00:77:00:11",
		"loader,file=" + keys + ",addr=0x40100000,force-raw=on",
		"ferry.name=a ferry.ip=10.77.0.11/24 ferry.mac=52:54:00:77:00:11 ferry.keys=0x40100000,0x2a0 ferry.kernel=0x48200000 -- console=ttyAMA0",
	} {
		if !strings.Contains(line, want) {
			t.Errorf("command line lacks %q:\n%s", want, line)
		}
	}
	// The receive role: no kernel, only Ferry's words.
	b.Kernel, b.Append, b.Words = "", "", "ferry.fault=prepared"
	args, err = b.Args()
	if err != nil {
		t.Fatal(err)
	}
	if line := strings.Join(args, " "); strings.Contains(line, "ferry.kernel") || strings.Contains(line, " -- ") || !strings.Contains(line, "ferry.keys=0x40100000,0x2a0 ferry.fault=prepared") {
		t.Fatalf("receive role: %s", line)
	}
	for _, sw := range []string{"0.0.0.0:7777", "10.0.0.1:7777", "localhost"} {
		b.Switch = sw
		if _, err := b.Args(); err == nil {
			t.Errorf("switch %q accepted: boards may only connect to 127.0.0.1", sw)
		}
	}
}

func TestArgsDataNetwork(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "a.pem")
	os.WriteFile(keys, make([]byte, 0x2a0), 0o644)
	b := Board{CPU: "max", Memory: "1G", Image: writeELF(t), Insecure: true, Kernel: writeKernel(t, 0x1ab0000), Append: "console=ttyAMA0",
		Switch: "127.0.0.1:7777", Name: "a", IP: "10.77.0.11/24", MAC: "52:54:00:77:00:11", Keys: keys,
		DataSwitch: "127.0.0.1:7778", DataMAC: "52:54:00:88:00:10"}
	args, err := b.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	mgmt := strings.Index(line, "netdev=mgmt")
	data := strings.Index(line, "-device virtio-net-device,netdev=data,mac=52:54:00:88:00:10")
	if mgmt < 0 || data < 0 || data < mgmt || !strings.Contains(line, "-netdev socket,id=data,connect=127.0.0.1:7778") {
		t.Fatalf("the guest's NIC must follow Ferry's (QEMU gives the first one the last transport):\n%s", line)
	}
	// Natively the guest's NIC is the board's only one, with its options.
	n := Board{CPU: "max", Memory: "1G", Kernel: "Image", DataSwitch: "127.0.0.1:7778", DataMAC: "52:54:00:88:00:10", DataOptions: ",event_idx=off"}
	if args, err := n.Args(); err != nil || !strings.Contains(strings.Join(args, " "), "-device virtio-net-device,netdev=data,mac=52:54:00:88:00:10,event_idx=off") {
		t.Fatalf("native: %v %q", err, args)
	}
	for _, tc := range []struct{ sw, mac, opts string }{{"0.0.0.0:7778", "52:54:00:88:00:10", ""}, {"127.0.0.1:7778", "", ""}, {"127.0.0.1:7778", "52:54:00:88:00:10", "event_idx=off"}, {"127.0.0.1:7778", "52:54:00:88:00:10", ", x=1"}} {
		b.DataSwitch, b.DataMAC, b.DataOptions = tc.sw, tc.mac, tc.opts
		if _, err := b.Args(); err == nil {
			t.Errorf("data switch %q, MAC %q, options %q accepted", tc.sw, tc.mac, tc.opts)
		}
	}
}

// checkArgs checks that b's command line has each of want and none of
// lack.
func checkArgs(t *testing.T, b Board, name string, want, lack []string) {
	t.Helper()
	args, err := b.Args()
	if err != nil {
		t.Fatal(err)
	}
	line := strings.Join(args, " ")
	for _, w := range want {
		if !strings.Contains(line, w) {
			t.Errorf("%s: command line lacks %q:\n%s", name, w, line)
		}
	}
	for _, w := range lack {
		if strings.Contains(line, w) {
			t.Errorf("%s: command line has %q:\n%s", name, w, line)
		}
	}
}
