// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"

	"github.com/ferry-hv/ferry/mmio"
	"github.com/ferry-hv/ferry/mmio/eqos"
	"github.com/ferry-hv/ferry/phys"
)

// relayParts is what the models of relayed bus masters need of the
// board beyond guest RAM (stateHW.dma): their shadow memory, and the
// cache maintenance a device that does not snoop the CPU's caches needs.
type relayParts struct {
	// Mem reaches a range of Options.RelayDMA (identity-mapped, Normal
	// Non-cacheable at EL2 on the i.MX8M Plus).
	Mem func(r phys.Range) (eqos.Mem, error)
	// Fence orders the CPU's accesses to that memory as the device sees
	// them (DMB OSH).
	Fence func()
	// Invalidate and Clean keep Ferry's cacheable view of guest RAM
	// coherent with the guest's Non-cacheable descriptor rings
	// (eqos.Relaying).
	Invalidate, Clean func(addr, size uint64)
}

// GuestEQOS is an EQOS Ferry relays for the guest: its registers' base
// and the model of its DMA page.
type GuestEQOS struct {
	Base  uint64
	Model *eqos.Model
}

// newGuestEQOS builds the model of x's DMA page over dev, its shadow
// rings in x's part of the relay window.
func newGuestEQOS(x Relayed, dev mmio.Device, hw stateHW, rp relayParts) (GuestEQOS, error) {
	if rp.Mem == nil {
		return GuestEQOS{}, fmt.Errorf("no shadow memory for a relay on this board")
	}
	sm, err := rp.Mem(x.Shadow)
	if err != nil {
		return GuestEQOS{}, err
	}
	m, err := eqos.New(dev, eqos.Relaying{
		Guest: hw.dma.Guest, InRAM: hw.dma.InRAM, Wrote: hw.dma.Wrote,
		Shadow: sm, ShadowBase: x.Shadow.Base,
		Fence: rp.Fence, Invalidate: rp.Invalidate, Clean: rp.Clean,
	})
	if err != nil {
		return GuestEQOS{}, err
	}
	if log := hw.log; log != nil {
		m.Log = func(s string) { log(fmt.Sprintf("guest EQOS at %#x: %s", x.Base, s)) }
	}
	return GuestEQOS{Base: x.Base, Model: m}, nil
}

// eqosComponent is a relayed EQOS as a migration sees it: captured at the
// pause, where its DMA is stopped (what the transmit ring holds sent
// first, for as long as a pause waits for a guest NIC) and what it wrote
// into guest RAM reported before the last dirty pages are taken. Its
// state (eqos.State) carries nothing: the relay's rings do not move, and
// the destination's relay forgets whatever it knew (eqos.Model.Reset),
// for the guest's driver resets its device there (docs/decisions.md,
// "The guest's EQOS: shadow rings").
func eqosComponent(g GuestEQOS) Component {
	return Component{
		Name: fmt.Sprintf("eqos@%x", g.Base), Version: eqos.Version, Oldest: eqos.Oldest, AtPause: true,
		Capture: func() ([]byte, error) {
			if err := g.Model.Stop(guestNICStopWait); err != nil {
				return nil, err
			}
			return eqos.State{}.Encode(), nil
		},
		Decode: func(v uint16, b []byte) (func() error, error) {
			if _, err := eqos.Decode(v, b); err != nil {
				return nil, err
			}
			return func() error { g.Model.Reset(); return nil }, nil
		},
	}
}
