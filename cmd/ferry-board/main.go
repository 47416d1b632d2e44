// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-board starts one QEMU virt board running Ferry and a guest
// (or, with -native, the guest kernel directly at EL2, for comparison), with
// the board's console on standard output.
//
//	ferry-board -kernel build/guest/Image -initrd build/guest/initrd.cpio.gz \
//	    -append "console=ttyAMA0" [-image build/ferry.img] [-cpu max] [-m 1G]
//
// On a management network (see ferry-switch, ferryctl):
//
//	ferry-board -switch 127.0.0.1:7777 -name a -ip 10.77.0.11/24 \
//	    -mac 52:54:00:77:00:11 -keys build/keys/a.pem [-receive]
//
// -print prints the QEMU command line instead of running it.
//
// QEMU never outlives ferry-board: SIGINT, SIGTERM and SIGHUP stop it
// (SIGTERM, then SIGKILL) before ferry-board dies of the signal, and the
// kernel kills it should ferry-board be killed outright (qemu.StartChild).
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
	flag.IntVar(&b.SMP, "smp", 1, "the board's CPUs (QEMU -smp); Ferry runs on each")
	flag.StringVar(&b.Image, "image", "build/ferry.img", "Ferry's arm64 Image (or its ELF with -insecure)")
	flag.BoolVar(&b.Insecure, "insecure", false, "a board without the GIC's security states or EL3 (secure=off), as no real firmware leaves one")
	flag.StringVar(&b.Kernel, "kernel", "build/guest/Image", "guest arm64 Linux Image")
	flag.StringVar(&b.Initrd, "initrd", "build/guest/initrd.cpio.gz", "guest initramfs (\"\" for none)")
	flag.StringVar(&b.Append, "append", "console=ttyAMA0", "guest kernel command line")
	flag.BoolVar(&native, "native", false, "boot the kernel directly at EL2, without Ferry")
	var receive bool
	flag.BoolVar(&receive, "receive", false, "boot no guest: wait for one to be migrated here (needs -switch)")
	flag.StringVar(&b.Switch, "switch", "", "management link: the ferry-switch at 127.0.0.1:<port>")
	flag.StringVar(&b.Name, "name", "", "board name (management network)")
	flag.StringVar(&b.IP, "ip", "", "Ferry's management address, e.g. 10.77.0.11/24")
	flag.StringVar(&b.MAC, "mac", "", "the management NIC's MAC, e.g. 52:54:00:77:00:11")
	flag.StringVar(&b.Keys, "keys", "", "the board's key bundle (ferryctl keys)")
	flag.StringVar(&b.Words, "words", "", "more of Ferry's words, e.g. \"ferry.cpus=1\"")
	flag.BoolVar(&printOnly, "print", false, "print the QEMU command line and exit")
	flag.Parse()
	b.Extra = flag.Args()
	if native {
		b.Image = ""
	}
	if receive {
		b.Kernel, b.Initrd, b.Append = "", "", ""
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
	qemu.KillOnSignal("ferry-board")
	cmd := exec.Command(b.QEMU, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := qemu.StartChild(cmd); err != nil {
		fmt.Fprintln(os.Stderr, "ferry-board:", err)
		qemu.Exit(1)
	}
	if err := cmd.Wait(); err != nil {
		if !qemu.Stopping() {
			fmt.Fprintln(os.Stderr, "ferry-board:", err)
		}
		qemu.Exit(1)
	}
	qemu.Exit(0)
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
