// Command ferry-board starts one QEMU virt board running Ferry and a guest
// (or, with -native, the guest kernel directly at EL2, for comparison), with
// the board's console on standard output.
//
//	ferry-board -kernel build/guest/Image -initrd build/guest/initrd.cpio.gz \
//	    -append "console=ttyAMA0" [-image build/ferry.elf] [-cpu max] [-m 1G]
//
// -print prints the QEMU command line instead of running it.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/ferry-hv/ferry/internal/qemu"
)

func main() {
	var b qemu.Board
	var native, printOnly bool
	flag.StringVar(&b.QEMU, "qemu", "qemu-system-aarch64", "QEMU binary")
	flag.StringVar(&b.CPU, "cpu", "max,pauth-impdef=on", "QEMU -cpu model")
	flag.StringVar(&b.Memory, "m", "1G", "board RAM (QEMU -m)")
	flag.StringVar(&b.Image, "image", "build/ferry.elf", "Ferry image (ELF)")
	flag.StringVar(&b.Kernel, "kernel", "build/guest/Image", "guest arm64 Linux Image")
	flag.StringVar(&b.Initrd, "initrd", "build/guest/initrd.cpio.gz", "guest initramfs (\"\" for none)")
	flag.StringVar(&b.Append, "append", "console=ttyAMA0", "guest kernel command line")
	flag.BoolVar(&native, "native", false, "boot the kernel directly at EL2, without Ferry")
	flag.BoolVar(&printOnly, "print", false, "print the QEMU command line and exit")
	flag.Parse()
	b.Extra = flag.Args()
	if native {
		b.Image = ""
	}
	args, err := b.Args()
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferry-board:", err)
		os.Exit(2)
	}
	if printOnly {
		fmt.Println(b.QEMU, strings.Join(quote(args), " "))
		return
	}
	cmd := exec.Command(b.QEMU, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-board:", err)
		os.Exit(1)
	}
}

func quote(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if strings.ContainsAny(a, " \"'") {
			a = "'" + a + "'"
		}
		out[i] = a
	}
	return out
}
