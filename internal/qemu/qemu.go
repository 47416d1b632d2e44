// Package qemu turns a board description (CPU model, memory, the Ferry
// image, the guest kernel, initramfs and command line) into the
// qemu-system-aarch64 command line that runs it, with or without Ferry, and
// starts it. It is the one place that knows how the guest is handed over:
// QEMU's generic loader places the kernel Image and the initramfs in guest
// RAM, and -append carries ferry.kernel/ferry.initrd and, after "--", the
// guest's command line.
//
// Host-side only. Boards never get a network path out of the host: -nic none
// and -nodefaults always.
package qemu

import (
	"fmt"
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
	Image  string // Ferry's ELF; "" boots the kernel natively (no Ferry)
	Kernel string // arm64 Linux Image
	Initrd string // initramfs, may be ""
	Append string // the guest's command line
	Extra  []string
}

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

// Args returns QEMU's arguments for the board (without the binary).
func (b Board) Args() ([]string, error) {
	ram, err := MemoryBytes(b.Memory)
	if err != nil {
		return nil, err
	}
	if b.Kernel == "" {
		return nil, fmt.Errorf("no guest kernel given")
	}
	machine := "virt,virtualization=on,gic-version=3"
	args := []string{"-M", machine, "-cpu", b.CPU, "-m", b.Memory, "-smp", "1",
		"-nodefaults", "-nic", "none", "-display", "none", "-monitor", "none", "-serial", "stdio"}
	if b.Image == "" {
		args = append(args, "-kernel", b.Kernel, "-append", b.Append)
		if b.Initrd != "" {
			args = append(args, "-initrd", b.Initrd)
		}
		return append(args, b.Extra...), nil
	}
	h, err := readImageHeader(b.Kernel)
	if err != nil {
		return nil, err
	}
	kernel := kernelAddr + h.TextOffset
	kernelEnd := kernel + h.ImageSize
	ferryArgs := fmt.Sprintf("ferry.kernel=%#x", kernel)
	args = append(args, "-kernel", b.Image,
		"-device", fmt.Sprintf("loader,file=%s,addr=%#x,force-raw=on", b.Kernel, kernel))
	if b.Initrd != "" {
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
