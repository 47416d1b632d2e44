// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import "testing"

// typerRedist is f's redistributor with a GICR_TYPER of its own: the
// first of a GIC's four (the EVK's), not the last.
type typerRedist struct {
	Regs
	typer uint64
}

func (r typerRedist) Read32(off uint64) uint32 {
	switch off {
	case GICR_TYPER:
		return uint32(r.typer)
	case GICR_TYPER + 4:
		return uint32(r.typer >> 32)
	}
	return r.Regs.Read32(off)
}

func (r typerRedist) Read64(off uint64) uint64 {
	if off == GICR_TYPER {
		return r.typer
	}
	return r.Regs.Read64(off)
}

// The guest's redistributor is the last it sees (GICR_TYPER.Last): the
// other cores' frames are not the guest's (hyp.Describe leaves them
// unmapped), and Linux walks the frames of a region from the first until
// one says Last (gic_iterate_rdists). The rest of GICR_TYPER is the
// hardware's, by either width, and the guest cannot write it.
func TestGuardRDLast(t *testing.T) {
	f := NewFake(224)
	const typer = 0x0000_0000_0000_0001 | 0<<8 // PLPIS, processor 0, affinity 0.0.0.0, not Last
	r := typerRedist{f.Redist(), typer}
	g, err := NewGuard(f.Dist(), r, ferryGroup1())
	if err != nil {
		t.Fatal(err)
	}
	rd := g.RDPage()
	if v := rd.Read(GICR_TYPER, 4); v != typer|GICR_TYPER_Last {
		t.Errorf("32-bit GICR_TYPER %#x, want %#x", v, typer|GICR_TYPER_Last)
	}
	if v := rd.Read(GICR_TYPER, 8); v != typer|GICR_TYPER_Last {
		t.Errorf("64-bit GICR_TYPER %#x, want %#x", v, typer|GICR_TYPER_Last)
	}

	// Affinity in the upper word, as the hardware has it.
	r.typer = 0x0102_0304_0000_0301
	g, err = NewGuard(f.Dist(), r, ferryGroup1())
	if err != nil {
		t.Fatal(err)
	}
	rd = g.RDPage()
	if v := rd.Read(GICR_TYPER+4, 4); v != 0x0102_0304 {
		t.Errorf("GICR_TYPER[63:32] %#x, want the hardware's 0x1020304", v)
	}
	if v := rd.Read(GICR_TYPER, 8); v != r.typer|GICR_TYPER_Last {
		t.Errorf("64-bit GICR_TYPER %#x, want %#x", v, r.typer|GICR_TYPER_Last)
	}
	before := len(f.Writes)
	rd.Write(GICR_TYPER, 8, 0)
	rd.Write(GICR_TYPER, 4, 0)
	if len(f.Writes) != before {
		t.Errorf("the guest's writes to GICR_TYPER (read-only) reached the hardware: %v", f.Writes[before:])
	}
}
