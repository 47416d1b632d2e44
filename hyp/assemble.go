// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"
	"slices"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// parts are the hardware a machine is assembled over besides its
// description: on the board the real GIC, device pages and CPU (the arm64
// NewMachine); on the host, fakes.
type parts struct {
	// arena backs the stage-2 tables; arenaPA is its physical address
	// (the tables hold physical addresses). It must hold the description's
	// Stage2Pages plus two pages, for alignment.
	arena   []byte
	arenaPA uint64
	// dist and redist reach the GIC's distributor and the redistributor
	// frames of Ferry's CPU; frame, the frames of the redistributor
	// region by index (a vCPU's: its CPU's), for a guest with more than
	// one vCPU.
	dist, redist gic.Regs
	frame        func(k int) gic.Regs
	// forward reaches a device page the guest keeps part of.
	forward func(base, size uint64) mmio.Device
	// hw is where the components live; assemble fills in its GIC.
	hw stateHW
	// relay is what the models of relayed bus masters need (the EQOS's).
	relay relayParts
}

// GuestNIC is a guest NIC: its transport's base and Ferry's model of it.
type GuestNIC struct {
	Base      uint64
	Transport *virtiommio.Transport
}

// assembly is a machine's EL2 state, built from its description.
type assembly struct {
	stage2    *mmu.Stage2
	guard     *gic.Guard
	frames    []*gic.Guard // by vCPU: the guard of its redistributor frame (frames[0] is guard)
	bus       mmio.Bus
	reg       Registry
	guestNICs []GuestNIC    // the models of the guest's NICs' transports
	eqos      []GuestEQOS   // the models of the relayed EQOSes' DMA pages
	stop      *guestNICStop // how the next pause stops their devices
	discard   *discarder    // forgets an incoming guest that will not run here
}

// assemble builds what the machine d describes over p: the guest's stage-2
// tables, the guard over the GIC with Ferry's interrupts programmed, every
// trapped page on the MMIO bus (with a model of each of the guest's NICs'
// transports, and of each relayed EQOS's DMA page), and the registry of
// migratable components.
func assemble(d *Description, p parts) (*assembly, error) {
	a := assembly{stop: &guestNICStop{}}
	// The stage-2 root table of a 40-bit IPA space is two concatenated
	// pages aligned to their size (ARM ARM D8.2.8): align the arena so.
	const align = 2 * mmu.PageSize
	skip := (align - p.arenaPA%align) % align
	n := d.Stage2Pages()
	if uint64(len(p.arena)) < skip+uint64(n)*mmu.PageSize {
		return nil, fmt.Errorf("machine: a stage-2 arena of %d pages, the description needs %d and two for alignment", len(p.arena)/mmu.PageSize, n)
	}
	ar, err := mmu.NewArena(p.arena[skip:skip+uint64(n)*mmu.PageSize], p.arenaPA+skip)
	if err != nil {
		return nil, err
	}
	if a.stage2, err = mmu.NewStage2(ar, ipaBits); err != nil {
		return nil, err
	}
	if err := d.MapStage2(a.stage2); err != nil {
		return nil, err
	}
	if a.guard, err = gic.NewGuard(p.dist, p.redist, d.Owned); err != nil {
		return nil, err
	}
	if p.hw.log != nil {
		a.guard.Log = p.hw.log
	}
	if err := a.guard.SetupOwned(); err != nil {
		return nil, err
	}
	// The other vCPUs' frames: their own guards (Ferry's SGI and PPIs on
	// each; the SPIs are the distributor's, kept by the first). Each CPU
	// programs its own redistributor when it starts its vCPU.
	a.frames = []*gic.Guard{a.guard}
	private := gic.Owned{SGIs: d.Owned.SGIs, PPIs: d.Owned.PPIs}
	for k := 1; k < len(d.VCPUs); k++ {
		if p.frame == nil {
			return nil, fmt.Errorf("machine: %d vCPUs and no way to reach their redistributors", len(d.VCPUs))
		}
		g, err := gic.NewGuard(p.dist, p.frame(k), private)
		if err != nil {
			return nil, err
		}
		g.Log = a.guard.Log
		a.frames = append(a.frames, g)
	}
	for _, g := range a.frames[:len(a.frames)-1] {
		g.NotLast()
	}
	pages := make([]GICPages, len(a.frames))
	for k, g := range a.frames {
		pages[k] = g
	}
	var guestNICComponents []Component
	virtio := func(r phys.Range) mmio.Device {
		sh := p.hw.dma
		if i := slices.IndexFunc(d.GuestNICs, func(v dtb.VirtioMMIO) bool { return v.Reg.Base == r.Base }); i >= 0 {
			intid := d.GuestNICs[i].SPI + gic.FirstSPI
			sh.Pend = func() {
				if err := a.guard.Pend(intid); err != nil && p.hw.log != nil {
					p.hw.log(fmt.Sprintf("guest NIC at %#x: %v", r.Base, err))
				}
			}
		}
		t := virtiommio.New(p.forward(r.Base, r.Size), sh)
		if log := p.hw.log; log != nil {
			t.Log = func(s string) { log(fmt.Sprintf("guest NIC at %#x: %s", r.Base, s)) }
		}
		a.guestNICs = append(a.guestNICs, GuestNIC{Base: r.Base, Transport: t})
		guestNICComponents = append(guestNICComponents, guestNICComponent(r.Base, t, a.stop))
		return t
	}
	relay := func(x Relayed) (mmio.Device, error) {
		g, err := newGuestEQOS(x, p.forward(x.Base+eqos.Page, eqos.PageSize), p.hw, p.relay)
		if err != nil {
			return nil, err
		}
		a.eqos = append(a.eqos, g)
		guestNICComponents = append(guestNICComponents, eqosComponent(g))
		return g.Model, nil
	}
	if err := d.Bus(&a.bus, pages, p.forward, virtio, relay); err != nil {
		return nil, err
	}
	p.hw.gic = a.guard
	a.reg = append(components(p.hw), guestNICComponents...)
	if a.discard, err = newDiscarder(&a, p.hw); err != nil {
		return nil, err
	}
	return &a, nil
}
