// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

// Command ferry is the hypervisor image: started by the board's firmware at
// EL2, it boots the guest OS at EL1 with its devices passed through, or --
// without a guest of its own -- waits for one to be migrated to it. With a
// management network (ferry.ip=) it serves the management API and the
// migration listener, both mutual TLS, and moves its guest on request.
//
// The guest kernel and initramfs are placed in RAM by the loader (QEMU's
// generic loader on the virt board); where they are, the board's name,
// address and keys, and the guest's command line come from the board's
// command line (see boot/config.Config). An initramfs the loader that
// started Ferry put in /chosen (QEMU's -initrd with -kernel ferry.img,
// U-Boot's booti) is the guest's when there is no ferry.initrd= word.
package main

import (
	"crypto/rand"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/ferry-hv/ferry/boot/config"
	"github.com/ferry-hv/ferry/boot/el2"
	"github.com/ferry-hv/ferry/boot/guest"
	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/migrate"
	"github.com/ferry-hv/ferry/net/mgmt"
	"github.com/ferry-hv/ferry/net/virtionet"
)

func logf(format string, args ...any) {
	fmt.Printf("ferry: "+format+"\n", args...)
}

func mem(addr, size uint64) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(uintptr(addr))), size)
}

func main() {
	if err := boot(); err != nil {
		logf("FATAL: %v", err)
	}
	board.PowerOff()
}

func boot() error {
	b := board.Board()
	logf("EL%d, MIDR %#x, RAM %v, carve-out [%#x, %#x), RNDR %v", cpu.ReadCurrentEL()>>2, cpu.ReadMIDR_EL1(), b.Memory,
		uint64(board.RAMBase), uint64(board.GuestBase), board.UsesRNDR())
	if err := runtimeCheck(); err != nil {
		return err
	}
	logf("image at %#x (where it was linked), firmware DTB at %#x (%s)", board.ImageBase, board.DTB(), dtbFrom())
	cfg, err := config.Parse(b.Bootargs)
	if err != nil {
		return err
	}
	cfg, initrdFrom, err := cfg.WithChosenInitrd(b.InitrdStart, b.InitrdEnd)
	if err != nil {
		return err
	}
	if cfg.Fault != "" && !slices.Contains(migrate.FaultPoints, cfg.Fault) {
		return fmt.Errorf("ferry.fault=%s: want one of %v", cfg.Fault, migrate.FaultPoints)
	}
	// The other CPUs come up before any of Ferry's goroutines exist.
	up, err := startCPUs(b, cfg)
	if err != nil {
		return err
	}

	var svc *services
	opt := hyp.Options{GuestBase: board.GuestBase, TickINTID: board.HypTimerINTID, MaintINTID: board.MaintINTID, Route: gic.RouteTo(cpu.ReadMPIDR_EL1()), RelayDMA: board.RelayDMA}
	if len(up) > 0 {
		// A vCPU on every CPU Ferry runs on, the boot CPU's first.
		opt.Kick = kickSGI
		opt.VCPUs = []uint64{cpu.ReadMPIDR_EL1() & cpu.MPIDRAffinity}
		for _, i := range up {
			opt.VCPUs = append(opt.VCPUs, el2.MPIDR(i))
		}
	}
	if cfg.IP.IsValid() {
		keys, err := keyBundle(cfg)
		if err != nil {
			return err
		}
		n, err := board.ManagementNIC(b, mgmt.Config{MAC: cfg.MAC, Addr: cfg.IP, MTU: cfg.MTU})
		if err != nil {
			return fmt.Errorf("management network: %w", err)
		}
		opt.MgmtNIC = n.NIC().Path
		if board.GuestArgs != "" {
			cfg.Guest = strings.TrimSpace(cfg.Guest + " " + board.GuestArgs)
		}
		svc = &services{cfg: cfg, net: n, keys: keys, ledger: migrate.NewLedger(nil)}
		if !cfg.Receive() {
			svc.ledger = migrate.NewLedger(migrate.NewGuest())
		}
		svc.ledger.Log = func(s string) { logf("%s", s) }
		svc.ledger.Strict = true // only migrations the operator announced
	}
	// Every other modern network device is the guest's: its transport
	// goes to a model that runs it on shadow rings. Any other device
	// would DMA where the guest says, unchecked: it is hidden.
	for _, d := range virtionet.Devices(b.Virtio) {
		switch {
		case d.Path == opt.MgmtNIC:
		case d.ModernNetwork():
			opt.GuestNICs = append(opt.GuestNICs, d.Path)
		default:
			opt.Unrelayed = append(opt.Unrelayed, d.Path)
		}
	}
	d, err := hyp.Describe(b, opt)
	if err != nil {
		return err
	}
	for _, x := range d.Devices {
		if x.Treat != hyp.PassThrough {
			logf("machine: %s %s: %s", x.Path, x.Treat, x.Why)
		}
	}

	var m *hyp.Machine
	if cfg.Receive() {
		if svc == nil {
			return fmt.Errorf("no guest to boot (no ferry.kernel=) and no management network (no ferry.ip=) to receive one")
		}
		if m, err = hyp.NewMachine(d, hyp.GuestNone, func(s string) { logf("%s", s) }); err != nil {
			return err
		}
		logf("no guest of its own: guest RAM %v cleared in %v; waiting for one to be migrated here", d.RAM, m.ClearRAM().Round(time.Millisecond))
	} else if m, err = bootGuest(cfg, d, initrdFrom); err != nil {
		return err
	}
	m.FirmwareDTB = board.FirmwareDTB() // the guest's DTB is made again from it when it resets itself
	el2.SetIdle(m.Idle, m.VCPUActive)
	if len(up) > 0 {
		el2.EnableKicks(kickSGI, 0) // its GIC takes them now (hyp.NewMachine set up Ferry's interrupts)
		runVCPUs(m, up)
	}
	if svc != nil {
		svc.m = m
		svc.poll = m.ServeMgmtNIC(svc.net)
		if err := svc.start(); err != nil {
			return err
		}
	}
	if !cfg.Receive() {
		logf("entering guest at EL1, %v after reset", board.Uptime())
	}
	err = m.Run()
	if errors.Is(err, hyp.ErrPoweredOff) && svc == nil {
		logf("%v; no management network: powering the board off", err)
		return nil
	}
	if svc == nil {
		return err // nobody could ask: report and power off
	}
	if errors.Is(err, hyp.ErrPoweredOff) {
		logf("%v; Ferry keeps serving its management API", err)
		select {}
	}
	// The board stays up and answers its API: the guest is "stopped",
	// with the trap, for the operator to see.
	logf("guest stopped: %v; Ferry keeps serving its management API", err)
	select {}
}

// bootGuest loads the guest the board's loader placed in RAM: it checks the
// kernel, writes the patched DTB and points the vCPU at the kernel.
func bootGuest(cfg config.Config, d *hyp.Description, initrdFrom string) (*hyp.Machine, error) {
	hdr, err := guest.ParseImageHeader(mem(cfg.Kernel, guest.ImageHeaderSize))
	if err != nil {
		return nil, fmt.Errorf("at ferry.kernel=%#x: %w", cfg.Kernel, err)
	}
	l, err := guest.Plan(d.RAM, cfg, hdr)
	if err != nil {
		return nil, fmt.Errorf("%w (initramfs: %s)", err, initrdFrom)
	}
	// What the guest is booted from again when it resets itself: kept at
	// the top of guest RAM, outside the memory its DTB gives it.
	stash, err := guest.PlanStash(d.RAM, l)
	if err != nil {
		return nil, err
	}
	seed := make([]byte, 32)
	rand.Read(seed)
	blob, err := l.DeviceTree(board.FirmwareDTB(), d.Patch, stash.Memory(d.RAM), seed)
	if err != nil {
		return nil, err
	}
	copy(mem(l.DTB, uint64(len(blob))), blob)
	// The kernel starts with its MMU and caches off: what it reads must be
	// at the point of coherency.
	cpu.CleanDcache(l.DTB, uint64(len(blob)))
	cpu.CleanDcache(l.Kernel, l.KernelEnd-l.Kernel)
	cpu.CleanDcache(l.Initrd.Base, l.Initrd.Size)
	cpu.InvalidateIcache()

	m, err := hyp.NewMachine(d, hyp.GuestRunning, func(s string) { logf("%s", s) })
	if err != nil {
		return nil, err
	}
	took, err := m.KeepBoot(stash)
	if err != nil {
		return nil, err
	}
	logf("boot stash %v (%d MiB, outside the guest's memory): its kernel and initramfs, to boot it again when it resets itself (kept in %v)",
		stash.Range, stash.Range.Size>>20, took.Round(time.Millisecond))
	m.Boot(l)
	logf("guest RAM %v, kernel [%#x, %#x), initrd %v (%s), DTB at %#x (%d bytes), %d stage-2 regions",
		d.RAM, l.Kernel, l.KernelEnd, l.Initrd, initrdFrom, l.DTB, len(blob), len(d.Stage2))
	return m, nil
}

// dtbFrom says how the firmware's DTB was found, for the log.
func dtbFrom() string {
	if board.X0() == 0 {
		return "x0 = 0: QEMU's ELF loader leaves it at the base of RAM"
	}
	return "x0, as the arm64 boot protocol passes it"
}

// runtimeCheck makes sure the Go runtime works at EL2 before anything
// depends on it: the heap, a second goroutine, and a timer driven by the
// generic timer.
func runtimeCheck() error {
	const nap = 10 * time.Millisecond
	start := time.Now()
	done := make(chan time.Duration, 1)
	go func() {
		time.Sleep(nap)
		done <- time.Since(start)
	}()
	select {
	case d := <-done:
		if d < nap {
			return fmt.Errorf("runtime check: a %v sleep took %v", nap, d)
		}
		logf("Go runtime: heap, goroutines and timers work (a %v sleep took %v)", nap, d.Round(time.Microsecond))
		return nil
	case <-time.After(time.Second):
		return fmt.Errorf("runtime check: a %v sleep did not end within a second", nap)
	}
}
