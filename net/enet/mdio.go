// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"errors"
	"time"
)

// PHY registers and bits (IEEE 802.3 Clause 22, 22.2.4 "Management
// functions", and 40.5 for 1000BASE-T's registers 9 and 10).
const (
	phyBMCR   = 0 // basic mode control
	phyBMSR   = 1 // basic mode status
	phyID1    = 2
	phyID2    = 3
	phyANAR   = 4  // auto-negotiation advertisement
	phyANLPAR = 5  // auto-negotiation link partner ability
	phyGBCR   = 9  // 1000BASE-T control
	phyGBSR   = 10 // 1000BASE-T status

	bmcrSpeed1000 = 1 << 6 // speed selection MSB
	bmcrDuplex    = 1 << 8
	bmcrANRestart = 1 << 9
	bmcrPowerDown = 1 << 11
	bmcrANEnable  = 1 << 12
	bmcrSpeed100  = 1 << 13 // speed selection LSB

	bmsrLink       = 1 << 2 // latched low: read twice for the present state
	bmsrANComplete = 1 << 5

	anar10Half  = 1 << 5
	anar10Full  = 1 << 6
	anar100Half = 1 << 7
	anar100Full = 1 << 8

	gbcr1000Half = 1 << 8
	gbcr1000Full = 1 << 9
	gbsr1000Half = 1 << 10 // link partner
	gbsr1000Full = 1 << 11
)

// mdioPolls bounds the wait for one management frame: EIR reads, each a
// bus access of a few hundred nanoseconds, against a frame's 64 MDC
// cycles (26 us at 2.5 MHz, about 100 us at the slowest IPG clock).
const mdioPolls = 1 << 16

// ErrMDIOTimeout is a management frame that did not complete.
var ErrMDIOTimeout = errors.New("MDIO frame did not complete (no MDC clock?)")

// mdio runs one Clause 22 management frame and returns its data field.
func (d *Device) mdio(op uint32, phy, reg int, data uint16) (uint16, error) {
	d.r.Write32(RegEIR, EventMII)
	d.r.Write32(RegMMFR, MMFRST|op|uint32(phy)<<MMFRPAPos|uint32(reg)<<MMFRRAPos|MMFRTA|uint32(data))
	for range mdioPolls {
		if d.r.Read32(RegEIR)&EventMII != 0 {
			d.r.Write32(RegEIR, EventMII)
			return uint16(d.r.Read32(RegMMFR) & MMFRData), nil
		}
	}
	return 0, d.errorf("PHY %d register %d: %w", phy, reg, ErrMDIOTimeout)
}

func (d *Device) phyRead(reg int) (uint16, error) { return d.mdio(MMFROpRead, d.phy, reg, 0) }

func (d *Device) phyWrite(reg int, v uint16) error {
	_, err := d.mdio(MMFROpWrite, d.phy, reg, v)
	return err
}

// findPHY finds the PHY (Options.PHY, or the first address that answers
// with an ID), and if it is powered down or not negotiating -- a boot
// loader that never used it -- turns auto-negotiation on. A PHY
// negotiating already is left alone: no reset, which would lose what the
// boot loader set up (the RGMII delays of phy-mode rgmii-id).
func (d *Device) findPHY() error {
	addrs := []int{d.opt.PHY}
	if d.opt.PHY < 0 {
		addrs = addrs[:0]
		for a := range 32 {
			addrs = append(addrs, a)
		}
	}
	for _, a := range addrs {
		d.phy = a
		hi, err := d.phyRead(phyID1)
		if err != nil {
			return err
		}
		lo, err := d.phyRead(phyID2)
		if err != nil {
			return err
		}
		id := uint32(hi)<<16 | uint32(lo)
		if id == 0 || id == 0xffffffff {
			continue
		}
		d.phyID = id
		bmcr, err := d.phyRead(phyBMCR)
		if err != nil {
			return err
		}
		if bmcr&bmcrPowerDown != 0 || bmcr&bmcrANEnable == 0 {
			return d.phyWrite(phyBMCR, bmcrANEnable|bmcrANRestart)
		}
		return nil
	}
	if d.opt.PHY >= 0 {
		return d.errorf("no PHY answers at MDIO address %d (its ID reads as 0 or all ones)", d.opt.PHY)
	}
	return d.errorf("no PHY answers at any MDIO address")
}

// waitLink reads the link until it is up or Options.LinkWait has passed.
func (d *Device) waitLink() (Link, error) {
	deadline := d.opt.Now().Add(d.opt.LinkWait)
	for {
		l, err := d.readLink()
		if err != nil || l.Up || !d.opt.Now().Before(deadline) {
			return l, err
		}
		d.opt.Sleep(100 * time.Millisecond)
	}
}

// readLink reads the link state and resolves the speed and duplex as
// IEEE 802.3 Annex 28B's priority resolution does (Linux's
// genphy_read_status): the best mode both ends advertise, or the forced
// one without auto-negotiation.
func (d *Device) readLink() (Link, error) {
	var v [phyGBSR + 1]uint16
	for _, reg := range []int{phyBMCR, phyBMSR, phyBMSR} { // BMSR twice: its link bit latches low
		x, err := d.phyRead(reg)
		if err != nil {
			return Link{}, err
		}
		v[reg] = x
	}
	if v[phyBMSR]&bmsrLink == 0 {
		return Link{}, nil
	}
	bmcr := v[phyBMCR]
	if bmcr&bmcrANEnable == 0 {
		l := Link{Up: true, Speed: 10, FullDuplex: bmcr&bmcrDuplex != 0}
		switch {
		case bmcr&bmcrSpeed1000 != 0:
			l.Speed = 1000
		case bmcr&bmcrSpeed100 != 0:
			l.Speed = 100
		}
		return l, nil
	}
	if v[phyBMSR]&bmsrANComplete == 0 {
		return Link{}, nil
	}
	for _, reg := range []int{phyANAR, phyANLPAR, phyGBCR, phyGBSR} {
		x, err := d.phyRead(reg)
		if err != nil {
			return Link{}, err
		}
		v[reg] = x
	}
	gb := v[phyGBCR] & (v[phyGBSR] >> 2) // partner's bits 11:10 under ours 9:8
	ab := v[phyANAR] & v[phyANLPAR]
	switch {
	case gb&gbcr1000Full != 0:
		return Link{Up: true, Speed: 1000, FullDuplex: true}, nil
	case gb&gbcr1000Half != 0:
		return Link{Up: true, Speed: 1000}, nil
	case ab&anar100Full != 0:
		return Link{Up: true, Speed: 100, FullDuplex: true}, nil
	case ab&anar100Half != 0:
		return Link{Up: true, Speed: 100}, nil
	case ab&anar10Full != 0:
		return Link{Up: true, Speed: 10, FullDuplex: true}, nil
	}
	return Link{Up: true, Speed: 10}, nil
}
