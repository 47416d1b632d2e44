// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package qemu

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"strings"
)

// U-Boot's qemu_arm64 build (configs/qemu_arm64_defconfig, Debian's
// u-boot-qemu) keeps its environment in flash: CONFIG_ENV_IS_IN_FLASH at
// CONFIG_ENV_ADDR 0x4000000, the base of virt's second flash bank, in
// CONFIG_ENV_SIZE bytes.
const (
	// UBootEnvSize is CONFIG_ENV_SIZE: the environment block, its CRC
	// included.
	UBootEnvSize = 0x40000
	// FlashBankSize is the size of each of virt's two flash banks
	// (hw/arm/virt.c, VIRT_FLASH): QEMU wants a pflash file of exactly
	// this size.
	FlashBankSize = 64 << 20
	// ubootKernelAddr is U-Boot's own kernel_addr_r on qemu_arm64 (DRAM
	// base + 4 MiB), where `qfw load` puts Ferry's Image; booti then
	// moves it down to DRAM base + text_offset.
	ubootKernelAddr = 0x40400000
)

// UBootEnv encodes vars ("name=value" each) as U-Boot's environment
// block without redundancy (env/common.c, tools/mkenvimage.c): the CRC32
// (IEEE, little-endian) of the data, then the data: each variable
// NUL-terminated, one more NUL, zeros to UBootEnvSize.
func UBootEnv(vars []string) ([]byte, error) {
	env := make([]byte, UBootEnvSize)
	data := env[4:]
	off := 0
	for _, v := range vars {
		name, _, ok := strings.Cut(v, "=")
		if !ok || name == "" || strings.IndexByte(v, 0) >= 0 {
			return nil, fmt.Errorf("U-Boot variable %q: want name=value, without NUL", v)
		}
		if off+len(v)+2 > len(data) { // its NUL and the block's final one
			return nil, fmt.Errorf("U-Boot environment: %q does not fit in %d bytes", name, UBootEnvSize)
		}
		off += copy(data[off:], v) + 1
	}
	binary.LittleEndian.PutUint32(env, crc32.ChecksumIEEE(data))
	return env, nil
}

// WriteUBootEnv writes a flash bank holding the environment vars at its
// base: the file of Board.FirmwareEnv.
func WriteUBootEnv(path string, vars []string) error {
	env, err := UBootEnv(vars)
	if err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := f.Write(env); err != nil {
		f.Close()
		return err
	}
	if err := f.Truncate(FlashBankSize); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// UBootVars returns the environment with which U-Boot's qemu_arm64
// (Firmware) boots the board's Ferry: its own default boot from QEMU's
// fw_cfg (bootcmd_qfw: `qfw load` puts -kernel, Ferry's Image, at
// kernel_addr_r, -initrd at ramdisk_addr_r and sets bootargs from
// -append; then booti), with
//   - ramdisk_addr_r moved out of the Image's image_size: U-Boot's default,
//     0x44000000, lies where booti moves Ferry (DRAM base + text_offset,
//     image_size long), and booti refuses it ("RD image overlaps OS
//     image"). With ChosenInitrd it is where Args would load the
//     initramfs otherwise, the first 2 MiB boundary after the guest
//     kernel's image_size; without, the next one after that initramfs
//     (qfw load writes the command line there).
//   - the DTB and the initramfs used where they are (fdt_high and
//     initrd_high all ones, as U-Boot's built-in environment has them,
//     which one in flash replaces whole);
//   - booti's initramfs argument: <addr>:<size> with ChosenInitrd (booti
//     writes it into /chosen), "-" (none) otherwise;
//   - bootdelay 0: no key is awaited.
func (b Board) UBootVars() ([]string, error) {
	if b.Kernel == "" {
		return nil, fmt.Errorf("U-Boot's environment: no guest kernel given")
	}
	h, err := readImageHeader(b.Kernel)
	if err != nil {
		return nil, err
	}
	ramdisk := alignUp(kernelAddr + h.TextOffset + h.ImageSize)
	initrd := "-"
	if b.ChosenInitrd && b.Initrd != "" {
		initrd = "${ramdisk_addr_r}:${filesize}" // qfw load sets filesize to -initrd's
	} else if b.Initrd != "" {
		// The generic loader's initramfs is there (Args): qfw load's
		// copy of the command line goes after it.
		st, err := os.Stat(b.Initrd)
		if err != nil {
			return nil, err
		}
		ramdisk = alignUp(ramdisk + uint64(st.Size()))
	}
	return []string{
		"bootdelay=0",
		fmt.Sprintf("kernel_addr_r=%#x", ubootKernelAddr),
		fmt.Sprintf("ramdisk_addr_r=%#x", ramdisk),
		"fdt_high=0xffffffffffffffff",
		"initrd_high=0xffffffffffffffff",
		"bootcmd=qfw load ${kernel_addr_r} ${ramdisk_addr_r} && booti ${kernel_addr_r} " + initrd + " ${fdtcontroladdr}",
	}, nil
}

// alignUp rounds a up to a 2 MiB boundary.
func alignUp(a uint64) uint64 { return (a + alignBlock - 1) &^ (alignBlock - 1) }
