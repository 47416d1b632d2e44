// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package fakeenet

// phy is a Clause 22 gigabit PHY (IEEE 802.3 22.2.4 and 40.5): it
// advertises every mode and negotiates with a partner that offers up to
// the wire's speed and duplex.
type phy struct {
	id         uint32
	bmcr       uint16
	link       bool // the wire (a partner is there)
	latchedLow bool // the link went down since BMSR was last read
	speed      int
	half       bool
	writes     []uint16 // BMCR writes
}

const (
	bmcrANRestart = 1 << 9
	bmcrPowerDown = 1 << 11
	bmcrANEnable  = 1 << 12
	bmsrLink      = 1 << 2
	bmsrANDone    = 1 << 5
	bmsrBase      = 0x7949 // 10/100 half and full, extended status, AN able, extended capability
)

func newPHY(o Options) phy {
	p := phy{id: o.PHYID, bmcr: bmcrANEnable, link: !o.Unplugged, speed: o.Speed, half: o.HalfDuplex}
	if o.PoweredDown {
		p.bmcr = bmcrPowerDown
	}
	return p
}

// up: a partner on the wire, and the PHY powered and negotiating (it
// negotiates at once).
func (p *phy) up() bool { return p.link && p.bmcr&bmcrPowerDown == 0 && p.bmcr&bmcrANEnable != 0 }

func (p *phy) read(reg int) uint16 {
	switch reg {
	case 0:
		return p.bmcr
	case 1:
		v := uint16(bmsrBase)
		if p.up() && !p.latchedLow {
			v |= bmsrLink | bmsrANDone
		}
		p.latchedLow = false
		return v
	case 2:
		return uint16(p.id >> 16)
	case 3:
		return uint16(p.id)
	case 4:
		return 0x01e1 // 10/100 half and full, IEEE 802.3
	case 5: // the partner's
		if !p.up() {
			return 0
		}
		switch {
		case p.speed >= 100 && !p.half:
			return 0x41e1
		case p.speed >= 100:
			return 0x40a1 // 100 half, 10 half
		case !p.half:
			return 0x4061 // 10 half and full
		}
		return 0x4021
	case 9:
		return 0x0300 // 1000BASE-T half and full advertised
	case 10: // the partner's 1000BASE-T abilities
		switch {
		case !p.up() || p.speed < 1000:
			return 0
		case p.half:
			return 1 << 10
		}
		return 1<<11 | 1<<10
	}
	return 0
}

func (p *phy) write(reg int, v uint16) {
	if reg != 0 {
		return
	}
	p.writes = append(p.writes, v)
	p.bmcr = v &^ bmcrANRestart
}

// SetLink changes the wire: up or down, and the partner's best mode.
func (d *Device) SetLink(up bool, speed int, half bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.phy.link && !up {
		d.phy.latchedLow = true
	}
	d.phy.link, d.phy.speed, d.phy.half = up, speed, half
}

// PHYWrites are the values written to the PHY's BMCR.
func (d *Device) PHYWrites() []uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]uint16(nil), d.phy.writes...)
}
