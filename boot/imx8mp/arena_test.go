// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

import (
	"errors"
	"testing"

	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/mmu"
)

// trackAll builds d's stage-2 tables in an arena of pages table pages and
// write-protects all of guest RAM, as a migration's dirty tracking does;
// it returns how many 2 MiB blocks were split.
func trackAll(d *hyp.Description, pages int) (int, error) {
	a, err := mmu.NewArena(make([]byte, pages*mmu.PageSize), 0x1000_0000_0000)
	if err != nil {
		return 0, err
	}
	s, err := mmu.NewStage2(a, 40)
	if err != nil {
		return 0, err
	}
	if err := d.MapStage2(s); err != nil {
		return 0, err
	}
	split := 0
	for _, r := range d.RAM {
		n, _, err := s.TrackWrites(r.Base, r.Size)
		if err != nil {
			return split, err
		}
		split += n
	}
	return split, nil
}

// The stage-2 arena is sized from the board's description: on the EVK,
// all of its 5.8 GiB of guest RAM can be dirty-tracked (every 2 MiB block
// split into pages). The fixed 2048-page arena Ferry had ran out at 4 GiB
// ("arena exhausted"), so a migration could not start. The size is exact:
// a page fewer runs out.
func TestEVKTracksAllRAM(t *testing.T) {
	_, b := evk(t)
	for _, nic := range []string{"", "/soc@0/bus@30800000/ethernet@30be0000"} {
		d, err := hyp.Describe(b, hyp.Options{GuestBase: GuestBase, TickINTID: HypTimerINTID, MaintINTID: MaintINTID, MgmtNIC: nic})
		if err != nil {
			t.Fatal(err)
		}
		var blocks int
		for _, r := range d.RAM {
			blocks += int(r.Size / mmu.BlockSize)
		}
		n := d.Stage2Pages()
		split, err := trackAll(d, n)
		if err != nil || split != blocks {
			t.Errorf("NIC %q: %d table pages: %d of %d blocks split: %v", nic, n, split, blocks, err)
		}
		t.Logf("NIC %q: %d MiB of guest RAM, %d blocks, %d table pages (%d KiB)", nic, blocks*2, blocks, n, n*4)
		if _, err := trackAll(d, n-1); !errors.Is(err, mmu.ErrExhausted) {
			t.Errorf("NIC %q: %d table pages, one fewer than Stage2Pages: %v, want the arena exhausted", nic, n-1, err)
		}
		if _, err := trackAll(d, 2048); !errors.Is(err, mmu.ErrExhausted) {
			t.Errorf("NIC %q: the old fixed 2048 pages: %v, want the arena exhausted", nic, err)
		}
	}
}
