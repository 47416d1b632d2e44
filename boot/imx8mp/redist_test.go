// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

import (
	"testing"

	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// The EVK's GIC has a redistributor frame (RD_base and SGI_base, 128 KiB)
// for each of its four cores in a region of 768 KiB. Ferry's core is the
// first; the other frames' RD_base would take LPI table addresses from
// the guest (GICR_PROPBASER, GICR_PENDBASER) and read and write there past
// stage 2. The guest gets its own frame (RD_base and SGI_base behind the
// guard, the rest passed through) and nothing of the others: every page
// unmapped, none on the MMIO bus, so an access is the guest's external
// abort. (The guard's GICR_TYPER says the guest's is the last, so Linux
// never walks past it: gic's TestGuardRDLast.)
func TestEVKRedistributors(t *testing.T) {
	_, b := evk(t)
	if want := (phys.Range{Base: 0x38880000, Size: 0xc0000}); b.GICR != want {
		t.Fatalf("redistributor region %v, want %v", b.GICR, want)
	}
	d, err := hyp.Describe(b, hyp.Options{GuestBase: GuestBase, TickINTID: HypTimerINTID, MaintINTID: MaintINTID})
	if err != nil {
		t.Fatal(err)
	}
	s := evkStage2(t, d)
	ports := map[uint64]hyp.Model{}
	for _, p := range d.Ports {
		for pa := p.Base; pa < p.End(); pa += mmu.PageSize {
			ports[pa] = p.Model
		}
	}
	for pa := b.GICR.Base; pa < b.GICR.End(); pa += mmu.PageSize {
		_, attr, _, _, mapped := s.Lookup(pa)
		model, trapped := ports[pa]
		switch {
		case pa == b.GICR.Base:
			if mapped || model != hyp.ModelGICRD {
				t.Errorf("%#x, the guest's RD_base: mapped %v, model %v; want the guard's", pa, mapped, model)
			}
		case pa == b.GICR.Base+0x10000:
			if mapped || model != hyp.ModelGICSGI {
				t.Errorf("%#x, the guest's SGI_base: mapped %v, model %v; want the guard's", pa, mapped, model)
			}
		case pa < b.GICR.Base+0x20000:
			if !mapped || attr != mmu.S2Device || trapped {
				t.Errorf("%#x, the rest of the guest's frame: mapped %v (%v), trapped %v; want passed through", pa, mapped, attr, trapped)
			}
		default:
			if mapped || trapped {
				t.Errorf("%#x, core %d's redistributor: mapped %v, trapped %v (%v); want neither", pa, (pa-b.GICR.Base)/0x20000, mapped, trapped, model)
			}
		}
	}
}
