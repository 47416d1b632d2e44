// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package qemu turns a board description (CPU model, memory, the Ferry
// image, the guest kernel, initramfs and command line) into the
// qemu-system-aarch64 command line that runs it, with or without Ferry, and
// starts it. It is the one place that knows how the guest is handed over:
// QEMU's generic loader places the kernel Image and the initramfs in guest
// RAM, and -append carries ferry.kernel/ferry.initrd and, after "--", the
// guest's command line. The board is the one a real board's firmware
// leaves: secure=on, so the GIC keeps its two security states and PSCI is
// an SMC to the secure firmware, and Ferry is its arm64 Image
// (build/ferry.img) booted by QEMU's Linux loader at Non-secure EL2, which
// can also hand the initramfs over in /chosen (ChosenInitrd). Insecure
// keeps the board without security states, on which QEMU also enters
// Ferry's ELF at EL2. Firmware runs a boot firmware first, U-Boot, whose
// booti boots the Image (uboot.go: its environment).
//
// It also starts what launchers run (StartChild, in process.go) so that no
// child outlives its launcher: a parent-death signal, and SIGTERM then
// SIGKILL on the launcher's signals (KillOnSignal) and exit (Exit).
//
// Host-side only. Boards never get a network path out of the host: -nic none
// and -nodefaults always.
package qemu

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"

	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/boot/virt"
)

// Board is one QEMU virt board.
type Board struct {
	QEMU   string // qemu-system-aarch64 binary
	CPU    string // -cpu model, e.g. "max,pauth-impdef=on"
	Memory string // -m size, e.g. "1G"
	SMP    int    // -smp: the board's CPUs (0: 1)
	Image  string // Ferry's arm64 Image (or its ELF, Insecure only); "" boots the kernel natively (no Ferry)
	Kernel string // arm64 Linux Image
	Initrd string // initramfs, may be ""
	Append string // the guest's command line
	Extra  []string

	// The management network: when Switch is set the board gets a second
	// virtio-net (Ferry's own) linked to the ferry-switch at that
	// 127.0.0.1 address, and Ferry its name, address and keys.
	Switch string // e.g. 127.0.0.1:7777
	Name   string // ferry.name
	IP     string // ferry.ip, e.g. 10.77.0.11/24
	MAC    string // the management NIC's MAC, e.g. 52:54:00:77:00:11
	Keys   string // PEM bundle (ca, certificate, key), loaded into Ferry's memory

	// The guest's own network: when DataSwitch is set the board gets
	// another virtio-net, the guest's (passed through), linked to the
	// switch of the data segment at that 127.0.0.1 address, with DataMAC:
	// the guest's MAC, the same on every board it may run on.
	DataSwitch string
	DataMAC    string
	// DataOptions are more properties of that virtio-net-device, each
	// after a comma (",event_idx=off").
	DataOptions string

	// Insecure runs the board without the GIC's security states and
	// without EL3 (secure=off), as no real board's firmware leaves it;
	// QEMU then also enters an ELF at EL2. By default (secure=on) QEMU
	// enters an ELF at EL3, so Image must be an arm64 Image: QEMU's Linux
	// loader enters it at EL2 with x0 = the DTB, which it places after the
	// Image's image_size (and after an -initrd, which goes there first);
	// the guest's kernel and initramfs then go after QEMU's DTB. An ELF
	// has QEMU's DTB at the base of RAM.
	Insecure bool
	// ChosenInitrd hands the guest's initramfs over with QEMU's -initrd,
	// which the Linux loader (or the Firmware's booti) writes into
	// /chosen, instead of the generic loader and ferry.initrd= (Ferry as
	// an arm64 Image only).
	ChosenInitrd bool

	// Firmware, when set, is a boot firmware QEMU runs first (-bios) in
	// place of its own Linux loader: U-Boot's qemu_arm64 build (Debian's
	// u-boot-qemu). QEMU hands it -kernel (Ferry's Image), -initrd and
	// -append through fw_cfg, and U-Boot boots the Image with booti as it
	// boots Linux, which moves it to DRAM base + text_offset and passes
	// U-Boot's DTB in x0 with -append as /chosen/bootargs. FirmwareEnv is
	// U-Boot's environment, the second flash bank (WriteUBootEnv of
	// UBootVars), which says where things go.
	Firmware    string
	FirmwareEnv string

	// Words are more of Ferry's own words (ferry.<key>=<value>, space
	// separated), e.g. a test's "ferry.fault=acked".
	Words string
}

// KeysAddr is where the launcher loads a board's key bundle: inside
// Ferry's carve-out, between QEMU's DTB and Ferry's image.
const KeysAddr = virt.RAMBase + 1<<20

const (
	mib        = 1 << 20
	alignBlock = 2 * mib
	// kernelAddr is where the loader puts the kernel: 2 MiB into guest RAM,
	// after the 2 MiB Ferry reserves for the patched DTB.
	kernelAddr = virt.GuestBase + guest.DTBMaxSize
)

// MemoryBytes parses a QEMU -m size: a number with an optional K, M, G or T
// suffix (MiB when there is none, as QEMU reads it).
func MemoryBytes(s string) (uint64, error) {
	mult := uint64(mib)
	num := s
	if n := len(s); n > 0 {
		switch strings.ToUpper(s[n-1:]) {
		case "K":
			mult, num = 1<<10, s[:n-1]
		case "M":
			mult, num = mib, s[:n-1]
		case "G":
			mult, num = 1<<30, s[:n-1]
		case "T":
			mult, num = 1<<40, s[:n-1]
		}
	}
	v, err := strconv.ParseUint(num, 10, 64)
	if err != nil || v == 0 {
		return 0, fmt.Errorf("memory size %q: want a number with an optional K, M, G or T suffix", s)
	}
	return v * mult, nil
}

// Machine returns the board's -M: QEMU's virt machine with EL2 and a
// GICv3, and EL3 with the GIC's security states unless Insecure.
func (b Board) Machine() string {
	if b.Insecure {
		return "virt,virtualization=on,gic-version=3"
	}
	return "virt,secure=on,virtualization=on,gic-version=3"
}

// Args returns QEMU's arguments for the board (without the binary).
func (b Board) Args() ([]string, error) {
	ram, err := MemoryBytes(b.Memory)
	if err != nil {
		return nil, err
	}
	if b.Kernel == "" && b.Image == "" {
		return nil, fmt.Errorf("no guest kernel given")
	}
	args := []string{"-M", b.Machine(), "-cpu", b.CPU, "-m", b.Memory, "-smp", strconv.Itoa(max(b.SMP, 1)),
		"-nodefaults", "-nic", "none", "-display", "none", "-monitor", "none", "-serial", "stdio"}
	if b.Image == "" {
		// Native: the guest alone, with its own NIC if it has one (the
		// last virtio-mmio transport, 0xa003e00, being the only one).
		args = append(args, "-kernel", b.Kernel, "-append", b.Append)
		if b.Initrd != "" {
			args = append(args, "-initrd", b.Initrd)
		}
		data, err := b.dataArgs()
		if err != nil {
			return nil, err
		}
		return append(append(args, data...), b.Extra...), nil
	}
	linuxLoader, err := isImage(b.Image)
	if err != nil {
		return nil, err
	}
	if !linuxLoader && b.Firmware != "" {
		return nil, fmt.Errorf("%s: not an arm64 Image; the firmware's booti boots only that (use build/ferry.img)", b.Image)
	}
	if !linuxLoader && !b.Insecure {
		return nil, fmt.Errorf("%s: not an arm64 Image; QEMU enters an ELF at EL3 on the board with security states (use build/ferry.img, or Insecure)", b.Image)
	}
	if b.Firmware != "" {
		args = append(args, "-bios", b.Firmware)
		if b.FirmwareEnv != "" {
			args = append(args, "-drive", "if=pflash,unit=1,format=raw,readonly=on,file="+strings.ReplaceAll(b.FirmwareEnv, ",", ",,"))
		}
	}
	args = append(args, "-kernel", b.Image)
	mgmt, ferryArgs, err := b.mgmtArgs()
	if err != nil {
		return nil, err
	}
	args = append(args, mgmt...)
	data, err := b.dataArgs()
	if err != nil {
		return nil, err
	}
	args = append(args, data...)
	if b.Words != "" {
		ferryArgs += b.Words + " "
	}
	if b.Kernel == "" {
		// The receive role: Ferry waits for a guest to be migrated here.
		return append(append(args, "-append", strings.TrimSpace(ferryArgs)), b.Extra...), nil
	}
	h, err := readImageHeader(b.Kernel)
	if err != nil {
		return nil, err
	}
	base := uint64(kernelAddr)
	switch {
	case b.Firmware != "":
		// booti moves the Image below guest RAM, and the firmware's DTB
		// is its own: the kernel goes where it goes on an ELF board.
		// The firmware places an -initrd (UBootVars: ramdisk_addr_r).
		if b.ChosenInitrd && b.Initrd != "" {
			args = append(args, "-initrd", b.Initrd)
		}
	case linuxLoader:
		var initrd []string
		if base, initrd, err = b.afterLinuxLoader(); err != nil {
			return nil, err
		}
		args = append(args, initrd...)
	case b.ChosenInitrd:
		return nil, fmt.Errorf("an initramfs in /chosen (-initrd) needs Ferry as an arm64 Image, booted by the Linux loader")
	}
	kernel := base + h.TextOffset
	kernelEnd := kernel + h.ImageSize
	ferryArgs += fmt.Sprintf("ferry.kernel=%#x", kernel)
	args = append(args, "-device", fmt.Sprintf("loader,file=%s,addr=%#x,force-raw=on", b.Kernel, kernel))
	if b.Initrd != "" && !b.ChosenInitrd {
		st, err := os.Stat(b.Initrd)
		if err != nil {
			return nil, err
		}
		initrd := (kernelEnd + alignBlock - 1) &^ (alignBlock - 1)
		if end := initrd + uint64(st.Size()); end > virt.RAMBase+ram {
			return nil, fmt.Errorf("initramfs %s (%d bytes) does not fit in %s of RAM after the kernel", b.Initrd, st.Size(), b.Memory)
		}
		ferryArgs += fmt.Sprintf(" ferry.initrd=%#x,%#x", initrd, st.Size())
		args = append(args, "-device", fmt.Sprintf("loader,file=%s,addr=%#x,force-raw=on", b.Initrd, initrd))
	}
	args = append(args, "-append", ferryArgs+" -- "+b.Append)
	return append(args, b.Extra...), nil
}

// afterLinuxLoader returns where the guest's kernel may go when QEMU's
// Linux loader boots Ferry's Image (hw/arm/boot.c): the Image at RAM base
// + text_offset (2 MiB more if text_offset is under 4 KiB, QEMU's own
// boot code being there), an -initrd at the first page after image_size,
// QEMU's DTB (up to DTBMaxSize) at the first 2 MiB boundary after that.
// With ChosenInitrd it also returns the -initrd argument.
func (b Board) afterLinuxLoader() (uint64, []string, error) {
	h, err := readImageHeader(b.Image)
	if err != nil {
		return 0, nil, err
	}
	load := virt.RAMBase + h.TextOffset
	if h.TextOffset < 4096 {
		load += alignBlock
	}
	high := (load + h.ImageSize + 4095) &^ 4095
	var args []string
	if b.ChosenInitrd && b.Initrd != "" {
		st, err := os.Stat(b.Initrd)
		if err != nil {
			return 0, nil, err
		}
		args = []string{"-initrd", b.Initrd}
		high += uint64(st.Size())
	}
	dtb := (high + alignBlock - 1) &^ (alignBlock - 1)
	return max(kernelAddr, dtb+guest.DTBMaxSize), args, nil
}

// mgmtArgs returns the QEMU arguments and Ferry words of the management
// network, if the board has one.
func (b Board) mgmtArgs() (args []string, words string, err error) {
	if b.Switch == "" {
		return nil, "", nil
	}
	host, _, err := net.SplitHostPort(b.Switch)
	if err != nil || host != "127.0.0.1" {
		return nil, "", fmt.Errorf("switch address %q: boards connect to a switch on 127.0.0.1 only", b.Switch)
	}
	if b.IP == "" || b.MAC == "" || b.Keys == "" {
		return nil, "", fmt.Errorf("a board on the management network needs an address, a MAC and keys")
	}
	st, err := os.Stat(b.Keys)
	if err != nil {
		return nil, "", err
	}
	if st.Size() > 1<<20-4096 {
		return nil, "", fmt.Errorf("key bundle %s is %d bytes: too large", b.Keys, st.Size())
	}
	args = []string{
		// virtio 1.x transports (QEMU's virtio-mmio is legacy by default)
		"-global", "virtio-mmio.force-legacy=false",
		"-netdev", "socket,id=mgmt,connect=" + b.Switch,
		"-device", "virtio-net-device,netdev=mgmt,mac=" + b.MAC,
		"-device", fmt.Sprintf("loader,file=%s,addr=%#x,force-raw=on", b.Keys, KeysAddr),
	}
	words = fmt.Sprintf("ferry.ip=%s ferry.mac=%s ferry.keys=%#x,%#x ", b.IP, b.MAC, KeysAddr, st.Size())
	if b.Name != "" {
		words = "ferry.name=" + b.Name + " " + words
	}
	return args, words, nil
}

// dataArgs returns the QEMU arguments of the guest's own NIC, if the board
// has one. It comes after Ferry's on the command line: QEMU gives the
// first virtio-net-device the last virtio-mmio transport, so Ferry's stays
// where it was.
func (b Board) dataArgs() ([]string, error) {
	if b.DataSwitch == "" {
		return nil, nil
	}
	host, _, err := net.SplitHostPort(b.DataSwitch)
	if err != nil || host != "127.0.0.1" {
		return nil, fmt.Errorf("data switch address %q: boards connect to a switch on 127.0.0.1 only", b.DataSwitch)
	}
	if _, err := net.ParseMAC(b.DataMAC); err != nil {
		return nil, fmt.Errorf("the guest's NIC needs a MAC: %q", b.DataMAC)
	}
	if o := b.DataOptions; o != "" && (o[0] != ',' || strings.ContainsAny(o, " \t\n")) {
		return nil, fmt.Errorf("the guest's NIC's options %q: want ,key=value,...", o)
	}
	return []string{
		"-global", "virtio-mmio.force-legacy=false",
		"-netdev", "socket,id=data,connect=" + b.DataSwitch,
		"-device", "virtio-net-device,netdev=data,mac=" + b.DataMAC + b.DataOptions,
	}, nil
}

// isImage tells an arm64 Image (its magic at offset 56) from anything
// else, such as an ELF.
func isImage(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	hdr := make([]byte, guest.ImageHeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		if errors.Is(err, io.EOF) {
			return false, nil
		}
		return false, fmt.Errorf("%s: %w", path, err)
	}
	return binary.LittleEndian.Uint32(hdr[56:]) == guest.ImageMagic, nil
}

func readImageHeader(path string) (guest.ImageHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return guest.ImageHeader{}, err
	}
	defer f.Close()
	hdr := make([]byte, guest.ImageHeaderSize)
	if _, err := f.ReadAt(hdr, 0); err != nil {
		return guest.ImageHeader{}, fmt.Errorf("%s: %w", path, err)
	}
	h, err := guest.ParseImageHeader(hdr)
	if err != nil {
		return guest.ImageHeader{}, fmt.Errorf("%s: %w", path, err)
	}
	return h, nil
}
