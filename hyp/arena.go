// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import "github.com/ferry-hv/ferry/mmu"

const (
	// stage2Root is the stage-2 root's pages: a 40-bit IPA space starts at
	// level 1 with two concatenated tables (ARM ARM D8.2.8).
	stage2Root = 2
	gib        = 1 << 30
)

// Stage2Pages is how many 4 KiB table pages the guest's stage-2 tables
// take at most, from the description's own map: the root; a level-2
// table for every GiB a mapping touches (mmu.Stage2.Map makes no level-1
// blocks); a level-3 table for every 2 MiB block a device mapping covers
// in part, and for every 2 MiB block of guest RAM, which dirty tracking
// splits into pages (mmu.Stage2.TrackWrites). The arena backing the
// tables is this size: a fixed one of 2048 pages held 4 GiB of tracked
// RAM, and the i.MX8M Plus EVK's guest has 5.8 GiB.
func (d *Description) Stage2Pages() int {
	l2, l3 := map[uint64]bool{}, map[uint64]bool{}
	for _, m := range d.Stage2 {
		for g := m.Base &^ (gib - 1); g < m.End(); g += gib {
			l2[g] = true
		}
		if !m.Device {
			for b := m.Base &^ (mmu.BlockSize - 1); b < m.End(); b += mmu.BlockSize {
				l3[b] = true
			}
			continue
		}
		if m.Base%mmu.BlockSize != 0 {
			l3[m.Base&^(mmu.BlockSize-1)] = true
		}
		if m.End()%mmu.BlockSize != 0 {
			l3[(m.End()-1)&^(mmu.BlockSize-1)] = true
		}
	}
	return stage2Root + len(l2) + len(l3)
}
