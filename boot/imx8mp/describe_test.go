// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

import (
	"bytes"
	"encoding/binary"
	"os"
	"reflect"
	"slices"
	"testing"

	"github.com/u-root/u-root/pkg/dt"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

func evk(t *testing.T) ([]byte, *dtb.Board) {
	t.Helper()
	blob, err := os.ReadFile("testdata/imx8mp-evk.dtb")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dtb.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	return blob, b
}

// The board package's facts agree with the board's own DTB: RAM starts
// where the carve-out does, the console is an i.MX UART at earlyUART,
// PSCI is by SMC, there is an SNVS for the RTC, the EL2 timer is the
// /timer node's fourth interrupt, and the virtual CPU interface's
// maintenance interrupt the GIC node's.
func TestEVKBoardFacts(t *testing.T) {
	blob, b := evk(t)
	if want := []phys.Range{{Base: RAMBase, Size: 0xc0000000}, {Base: 0x100000000, Size: 0xc0000000}}; !reflect.DeepEqual(b.Memory, want) {
		t.Errorf("memory %v, want %v (6 GiB from RAMBase)", b.Memory, want)
	}
	if b.UART.Base != earlyUART || !slices.Contains(b.UARTCompatible, consoleCompatible) {
		t.Errorf("console %s at %v (%v), want the %s at %#x", b.UARTPath, b.UART, b.UARTCompatible, consoleCompatible, earlyUART)
	}
	if b.PSCIMethod != "smc" {
		t.Errorf("PSCI method %q, want smc (PowerOff issues an SMC)", b.PSCIMethod)
	}
	if !slices.ContainsFunc(b.Devices, func(d dtb.Device) bool { return d.Is(snvsCompatible) }) {
		t.Errorf("no %s node for WallClock", snvsCompatible)
	}
	if LinkAddress <= RAMBase || LinkAddress >= GuestBase {
		t.Errorf("link address %#x outside the carve-out [%#x, %#x)", LinkAddress, RAMBase, GuestBase)
	}

	f, err := dt.ReadFDT(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	timer, ok := f.RootNode.LookupChildByName("timer")
	if !ok {
		t.Fatal("no /timer")
	}
	p, ok := timer.LookProperty("interrupts")
	if !ok || len(p.Value) < 4*12 {
		t.Fatalf("/timer interrupts: %v", p)
	}
	typ, ppi := binary.BigEndian.Uint32(p.Value[36:]), binary.BigEndian.Uint32(p.Value[40:])
	if typ != 1 || ppi+16 != HypTimerINTID {
		t.Errorf("/timer's fourth interrupt is type %d number %d (INTID %d), HypTimerINTID is %d", typ, ppi, ppi+16, HypTimerINTID)
	}

	soc, ok := f.RootNode.LookupChildByName("soc@0")
	if !ok {
		t.Fatal("no /soc@0")
	}
	gicNode, ok := soc.LookupChildByName("interrupt-controller@38800000")
	if !ok {
		t.Fatal("no GIC node /soc@0/interrupt-controller@38800000")
	}
	p, ok = gicNode.LookProperty("interrupts")
	if !ok || len(p.Value) != 12 {
		t.Fatalf("the GIC's interrupts (the maintenance interrupt): %v", p)
	}
	typ, ppi = binary.BigEndian.Uint32(p.Value[0:]), binary.BigEndian.Uint32(p.Value[4:])
	if typ != 1 || ppi+16 != MaintINTID {
		t.Errorf("the GIC's maintenance interrupt is type %d number %d (INTID %d), MaintINTID is %d", typ, ppi, ppi+16, MaintINTID)
	}
}

// The machine the EVK's guest gets: the GIC trapped, the bus masters
// hidden (TestEVKBusMasters) but the EQOS, whose DMA page traps to its
// relay (TestEVKRelayedEQOS), everything else passed through; the
// carve-out and the GIC's control pages unmapped at stage 2, RAM mapped
// as RAM, devices as Device memory; the guest's DTB has the guest's RAM
// and describes the same machine again.
func TestDescribeEVK(t *testing.T) {
	blob, b := evk(t)
	d, err := hyp.Describe(b, evkOptions())
	if err != nil {
		t.Fatal(err)
	}
	// Ferry keeps its timer and the maintenance interrupt; the guest's
	// interrupts go through the virtual CPU interface.
	if !slices.Equal(d.Owned.PPIs, []uint32{HypTimerINTID, MaintINTID}) || d.Maint != MaintINTID || d.Tick != HypTimerINTID {
		t.Errorf("Ferry's PPIs %v, tick %d, maintenance %d; want [%d %d]", d.Owned.PPIs, d.Tick, d.Maint, HypTimerINTID, MaintINTID)
	}
	if d.Console != hyp.ConsoleIMX || d.UART != (phys.Range{Base: 0x30890000, Size: 0x10000}) {
		t.Errorf("console %v at %v, want the i.MX UART2", d.Console, d.UART)
	}
	// The DSP's no-map reservation (/reserved-memory, 32 MiB at
	// 0x92400000) is not the guest's.
	if want := []phys.Range{{Base: 0x92400000, Size: 0x2000000}}; !reflect.DeepEqual(b.NoMap, want) {
		t.Errorf("no-map %v, want %v", b.NoMap, want)
	}
	wantRAM := []phys.Range{{Base: GuestBase, Size: 0x92400000 - GuestBase}, {Base: 0x94400000, Size: 0x100000000 - 0x94400000}, {Base: 0x100000000, Size: 0xc0000000}}
	if !reflect.DeepEqual(d.RAM, wantRAM) {
		t.Errorf("RAM %v, want %v", d.RAM, wantRAM)
	}
	for _, x := range d.Devices {
		want := hyp.PassThrough
		switch {
		case x.Path == "/soc@0/interrupt-controller@38800000", x.Path == evkRelayed:
			want = hyp.Trapped
		case evkBusMasters[x.Path] != "":
			want = hyp.Hidden
		}
		if x.Treat != want {
			t.Errorf("%s (%v): %v, want %v", x.Path, x.Compatible, x.Treat, want)
		}
	}
	// The bus masters go, and the three CPUs the guest's one vCPU is not
	// (its DTB has no cpu-map).
	if len(d.Devices) != len(b.Devices) || len(d.Patch.RemoveNodes) != len(evkBusMasters)+3 {
		t.Errorf("%d devices of %d, removed %v", len(d.Devices), len(b.Devices), d.Patch.RemoveNodes)
	}
	wantPorts := []phys.Range{{Base: 0x30bf1000, Size: 0x1000}, {Base: 0x38800000, Size: 0x1000}, {Base: 0x38880000, Size: 0x1000}, {Base: 0x38890000, Size: 0x1000}}
	var ports []phys.Range
	for _, p := range d.Ports {
		ports = append(ports, p.Range)
	}
	if !reflect.DeepEqual(ports, wantPorts) {
		t.Errorf("trapped pages %v, want %v (the EQOS's DMA page, GICD_CTLR's, RD_base, SGI_base)", ports, wantPorts)
	}

	s := evkStage2(t, d)
	for _, c := range []struct {
		ipa    uint64
		mapped bool
		attr   mmu.S2Attr
	}{
		{RAMBase, false, 0},       // Ferry's carve-out: its image ...
		{GuestBase - 1, false, 0}, // ... to its last byte
		{GuestBase, true, mmu.S2Normal},
		{0x92400000, false, 0}, // the DSP's no-map reservation
		{0x943fffff, false, 0},
		{0x94400000, true, mmu.S2Normal},
		{0xffffffff, true, mmu.S2Normal},
		{0x100000000, true, mmu.S2Normal},
		{0x1bfffffff, true, mmu.S2Normal},
		{0x1c0000000, false, 0},          // above RAM
		{0x38800000, false, 0},           // GICD_CTLR's page: trapped
		{0x38801000, true, mmu.S2Device}, // the rest of the distributor
		{0x38880000, false, 0},           // RD_base: trapped
		{0x38890000, false, 0},           // SGI_base: trapped
		{0x388a0000, false, 0},           // the second core's redistributor: not the guest's
		{0x30890000, true, mmu.S2Device}, // the console UART, passed through
		{0x30370000, true, mmu.S2Device}, // the SNVS
		{0x30be0000, false, 0},           // the Ethernet (FEC): a bus master, hidden
		{0x30bf0000, true, mmu.S2Device}, // the EQOS's MAC and MTL: the guest's
		{0x30bf1000, false, 0},           // its DMA page: trapped, relayed
		{0x30bf2000, true, mmu.S2Device},
		{0x30000000, true, mmu.S2Device}, // the AIPS1 bus's own registers (fsl,aips-bus)
		{0x20000000, false, 0},           // no device there
	} {
		pa, attr, writable, _, ok := s.Lookup(c.ipa)
		if ok != c.mapped || (ok && (pa != c.ipa || attr != c.attr || !writable)) {
			t.Errorf("stage 2 at %#x: pa %#x attr %v writable %v mapped %v; want mapped %v attr %v", c.ipa, pa, attr, writable, ok, c.mapped, c.attr)
		}
	}

	g := guestDTB(t, blob, d)
	if !reflect.DeepEqual(g.Memory, d.RAM) {
		t.Errorf("guest DTB memory %v, want %v", g.Memory, d.RAM)
	}
	again, err := hyp.Describe(g, evkOptions())
	if err != nil {
		t.Fatal(err)
	}
	// The same machine, but for the hidden devices' pages, which the AIPS
	// bus windows they sat in cover again.
	if !reflect.DeepEqual(withHoles(again.Stage2, hiddenPages(d)), d.Stage2) || !slices.Equal(again.Visible(), d.Visible()) {
		t.Errorf("the guest's DTB describes another machine")
	}
	if !slices.Contains(d.Visible(), "fsl,imx8mp-uart@0x30890000:passthrough") || !slices.Contains(d.Visible(), "arm,gic-v3@0x38800000:trapped") ||
		!slices.Contains(d.Visible(), "nxp,imx8mp-dwmac-eqos@0x30bf0000:trapped") {
		t.Errorf("visible: %q", d.Visible())
	}
}

// TestDescribeEVKFourVCPUs: with Ferry on the EVK's four A53s
// (ferry.cpus=all), the guest has a vCPU on each, by the DTB's MPIDRs; every
// core's redistributor frame, in GICR order, traps its RD_base and SGI_base
// pages to its own guard; the guest's DTB keeps the four CPUs, and the
// machine it describes is the same again.
func TestDescribeEVKFourVCPUs(t *testing.T) {
	blob, b := evk(t)
	var mpidrs []uint64
	for _, c := range b.CPUs {
		mpidrs = append(mpidrs, c.MPIDR)
	}
	if !slices.Equal(mpidrs, []uint64{0, 1, 2, 3}) {
		t.Fatalf("the EVK's CPUs: MPIDRs %#x, want the four A53s 0-3", mpidrs)
	}
	opt := evkOptions()
	opt.VCPUs, opt.Kick = mpidrs, 7
	d, err := hyp.Describe(b, opt)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(d.VCPUs, mpidrs) || !slices.Contains(d.Owned.SGIs, 7) {
		t.Errorf("vCPUs %#x, Ferry's SGIs %v", d.VCPUs, d.Owned.SGIs)
	}
	var ports []uint64
	for _, p := range d.Ports {
		ports = append(ports, p.Base)
	}
	for k := range 4 {
		rd := uint64(0x38880000 + 0x20000*k)
		if !slices.Contains(ports, rd) || !slices.Contains(ports, rd+0x10000) {
			t.Errorf("core %d's redistributor at %#x: RD_base and SGI_base not trapped (trapped: %#x)", k, rd, ports)
		}
	}
	if len(d.Patch.RemoveNodes) != len(evkBusMasters) {
		t.Errorf("removed %v: only the bus masters go, every CPU stays", d.Patch.RemoveNodes)
	}
	s := evkStage2(t, d)
	for _, ipa := range []uint64{0x38880000, 0x38890000, 0x388e0000, 0x388f0000} {
		if _, _, _, _, ok := s.Lookup(ipa); ok {
			t.Errorf("stage 2 maps %#x, a redistributor page every vCPU's guard traps", ipa)
		}
	}
	g := guestDTB(t, blob, d)
	if len(g.CPUs) != 4 {
		t.Errorf("the guest's DTB has %d CPUs, want 4", len(g.CPUs))
	}
	if _, err := hyp.Describe(g, opt); err != nil {
		t.Errorf("the guest's DTB again: %v", err)
	}
}
