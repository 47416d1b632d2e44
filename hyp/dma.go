// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"

	"github.com/ferry-hv/ferry/mmu"
)

// guestRAM is guest RAM as a model of a guest's device reads and writes
// it: by physical address (Ferry maps it at EL2 with VA == PA), within
// guest RAM only.
type guestRAM struct{ m *Machine }

// Slice implements virtq.Mem.
func (g guestRAM) Slice(addr uint64, n int) ([]byte, error) {
	if n < 0 || !g.m.inRAMRange(addr, uint64(n)) {
		return nil, fmt.Errorf("[%#x+%#x] is not guest RAM", addr, n)
	}
	return g.m.hw.RAM(addr, uint64(n)), nil
}

// inRAMRange reports whether [addr, addr+size) lies in one range of guest
// RAM.
func (m *Machine) inRAMRange(addr, size uint64) bool {
	if addr+size < addr {
		return false
	}
	for _, r := range m.Desc.RAM {
		if addr >= r.Base && addr+size <= r.End() {
			return true
		}
	}
	return false
}

// dmaWrote marks guest RAM a guest's device wrote by DMA, or a model
// wrote for it, dirty while a migration tracks: stage 2 sees neither.
// The model reports what the device said it wrote (a used entry's
// length), and the pages are marked a word of the bitmap at a time.
func (m *Machine) dmaWrote(addr, size uint64) {
	if !m.trk.on || size == 0 || !m.inRAMRange(addr, size) {
		return
	}
	base := m.Desc.RAM[0].Base
	first, last := (addr-base)/mmu.PageSize, (addr+size-1-base)/mmu.PageSize
	m.trk.log.SetRange(first, last-first+1)
}
