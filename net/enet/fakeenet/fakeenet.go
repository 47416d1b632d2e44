// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package fakeenet is a software model of the i.MX ENET (the FEC of the
// i.MX6 to i.MX8M) and the PHY on its MDIO bus, for host tests of package
// enet and what is built on it. It serves the register file (enet.Regs),
// reaches the driver's DMA memory by bus address within one window, walks
// the legacy descriptor rings as the MAC does -- ring 0, little-endian
// descriptors, the wrap bit, RDAR and TDAR cleared when the MAC finds no
// descriptor -- fills receive buffers (CRC included, frames longer than a
// buffer spread over several, MAX_FL and FTRL enforced), takes frames from
// transmit buffers, raises EIR events under EIMR, and answers Clause 22
// management frames for one PHY. What a real MAC would fault on -- a
// descriptor or buffer outside the window, a ring without its wrap bit --
// is recorded as a fault, not a crash.
//
// It is written from the reference manual independently of the driver (it
// does not import it), so the two cross-check each other. It is not for
// use outside tests.
package fakeenet

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
	"sync/atomic"
	"unsafe"
)

// Registers (offsets) and bits the model implements.
const (
	regEIR  = 0x004
	regEIMR = 0x008
	regRDAR = 0x010
	regTDAR = 0x014
	regECR  = 0x024
	regMMFR = 0x040
	regMSCR = 0x044
	regRCR  = 0x084
	regTCR  = 0x0c4
	regPALR = 0x0e4
	regPAUR = 0x0e8
	regRDSR = 0x180
	regTDSR = 0x184
	regMRBR = 0x188
	regFTRL = 0x1b0

	// EIR events.
	EventTXF   = 1 << 27
	EventTXB   = 1 << 26
	EventRXF   = 1 << 25
	EventRXB   = 1 << 24
	EventMII   = 1 << 23
	EventEBERR = 1 << 22

	active = 1 << 24 // RDAR/TDAR

	ecrReset   = 1 << 0
	ecrEtherEn = 1 << 1
	ecrEN1588  = 1 << 4
	ecrSpeed   = 1 << 5
	ecrDBSWP   = 1 << 8

	rcrMIIMode = 1 << 2
	rcrProm    = 1 << 3
	rcrRGMII   = 1 << 6
	rcr10T     = 1 << 9
	tcrFDEN    = 1 << 2

	// Descriptor status bits (legacy descriptors).
	StatusEmpty = 1 << 15 // receive: the MAC's to fill
	StatusReady = 1 << 15 // transmit: the MAC's to send
	StatusWrap  = 1 << 13
	StatusLast  = 1 << 11
	StatusTC    = 1 << 10 // transmit: append the CRC
	StatusLG    = 1 << 5  // receive: longer than MAX_FL
	StatusCR    = 1 << 2  // receive: CRC error
	StatusOV    = 1 << 1  // receive: FIFO overrun
	StatusTR    = 1 << 0  // receive: truncated at FTRL

	descSize = 8
	// maxWalk bounds the descriptors one call walks: a ring without a
	// wrap bit is a fault, not an endless loop.
	maxWalk = 4096
)

// Options shape the model.
type Options struct {
	// MAC is what PALR/PAUR hold at reset (a boot loader's address).
	MAC [6]byte
	// PHY is the PHY's MDIO address; PHYID its identifier (0: a Realtek
	// RTL8211F's, 0x001cc916).
	PHY   int
	PHYID uint32
	// Unplugged, Speed (10, 100 or 1000; 0: 1000) and HalfDuplex are the
	// wire's state at first (a partner there unless Unplugged); SetLink
	// changes it.
	Unplugged  bool
	Speed      int
	HalfDuplex bool
	// PoweredDown: the PHY starts powered down, auto-negotiation off (a
	// boot loader that never used it).
	PoweredDown bool
	// DropTDAR models ERR006358: the MAC clears TDAR after each frame
	// even when more descriptors are ready.
	DropTDAR bool
	// HoldTX models a MAC that takes transmit descriptors and never
	// gives them back.
	HoldTX bool
	// NoMDC models an MDIO bus without its clock: no management frame
	// ever completes.
	NoMDC bool
}

// Device is the model. Its methods are safe for concurrent use.
type Device struct {
	mu     sync.Mutex
	mem    []byte
	base   uint64
	opt    Options
	regs   map[uint32]uint32
	rxIdx  int
	txIdx  int
	phy    phy
	faults []string
	missed int // frames the MAC had no descriptor (or no RDAR) for
	mdio   int // management frames run
	rdar   int // RDAR writes
	tdar   int // TDAR writes
}

// New returns the model; mem is the window of memory it can reach by DMA,
// its first byte at bus address base.
func New(mem []byte, base uint64, opt Options) *Device {
	if opt.PHYID == 0 {
		opt.PHYID = 0x001cc916
	}
	if opt.Speed == 0 {
		opt.Speed = 1000
	}
	d := &Device{mem: mem, base: base, opt: opt, regs: map[uint32]uint32{}}
	d.reset()
	d.phy = newPHY(opt)
	return d
}

func (d *Device) reset() {
	clear(d.regs)
	m := d.opt.MAC
	d.regs[regPALR] = binary.BigEndian.Uint32(m[:4])
	d.regs[regPAUR] = uint32(binary.BigEndian.Uint16(m[4:]))<<16 | 0x8808
	d.regs[regRCR] = 0x05ee0001
	d.regs[regMRBR] = 0x600
	d.regs[regFTRL] = 0x7ff
	d.rxIdx, d.txIdx = 0, 0
}

func (d *Device) faultf(format string, args ...any) {
	d.faults = append(d.faults, fmt.Sprintf(format, args...))
}

// Faults returns what the driver did that a MAC would fault on.
func (d *Device) Faults() []string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]string(nil), d.faults...)
}

func (d *Device) enabled() bool { return d.regs[regECR]&ecrEtherEn != 0 }

// Read32 implements enet.Regs.
func (d *Device) Read32(off uint32) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off%4 != 0 {
		d.faultf("read of register %#x: not 32-bit aligned", off)
		return 0
	}
	return d.regs[off]
}

// Write32 implements enet.Regs.
func (d *Device) Write32(off uint32, v uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if off%4 != 0 {
		d.faultf("write of register %#x: not 32-bit aligned", off)
		return
	}
	switch off {
	case regEIR:
		d.regs[regEIR] &^= v
	case regRDAR:
		d.rdar++
		if d.enabled() {
			d.regs[regRDAR] = active
		}
	case regTDAR:
		d.tdar++
		if d.enabled() {
			d.regs[regTDAR] = active
		}
	case regECR:
		d.writeECR(v)
	case regMMFR:
		d.regs[regMMFR] = v
		d.management(v)
	case regPAUR:
		d.regs[regPAUR] = v&0xffff0000 | 0x8808 // TYPE is read-only
	default:
		d.regs[off] = v
	}
}

func (d *Device) writeECR(v uint32) {
	if v&ecrReset != 0 {
		d.reset()
		return
	}
	was := d.enabled()
	d.regs[regECR] = v
	if !d.enabled() {
		// Disabled: the DMA forgets its place; the rings restart at
		// RDSR/TDSR.
		d.regs[regRDAR], d.regs[regTDAR] = 0, 0
		d.rxIdx, d.txIdx = 0, 0
		return
	}
	if !was {
		if v&ecrDBSWP == 0 {
			d.faultf("ECR %#x: enabled with big-endian descriptors (DBSWP clear)", v)
		}
		if v&ecrEN1588 != 0 {
			d.faultf("ECR %#x: enhanced descriptors (EN1588), which the model does not implement", v)
		}
		if d.regs[regRCR]&rcrMIIMode == 0 {
			d.faultf("RCR %#x: MII_MODE clear", d.regs[regRCR])
		}
		for _, r := range []uint32{regRDSR, regTDSR} {
			if d.regs[r]%8 != 0 || d.regs[r] == 0 {
				d.faultf("ring start %#x (register %#x) is not 8-byte aligned", d.regs[r], r)
			}
		}
		if m := d.regs[regMRBR]; m == 0 || m%16 != 0 {
			d.faultf("MRBR %#x is not a multiple of 16", m)
		}
	}
}

// management runs an MMFR frame: Clause 22, to the PHY at its address
// (others read as all ones), done at once if MDC runs (MSCR.MII_SPEED is
// not 0).
func (d *Device) management(v uint32) {
	if d.regs[regMSCR]>>1&0x3f == 0 || d.opt.NoMDC {
		return // no MDC: the frame never completes
	}
	d.mdio++
	st, op, pa, ra, ta := v>>30, v>>28&3, int(v>>23&0x1f), int(v>>18&0x1f), v>>16&3
	if st != 0b01 || ta != 0b10 {
		d.faultf("MMFR %#x: not a Clause 22 frame (ST %b, TA %b)", v, st, ta)
		return
	}
	data := uint16(0xffff)
	if pa == d.opt.PHY {
		switch op {
		case 0b10:
			data = d.phy.read(ra)
		case 0b01:
			d.phy.write(ra, uint16(v))
			data = uint16(v)
		}
	}
	d.regs[regMMFR] = v&0xffff0000 | uint32(data)
	d.regs[regEIR] |= EventMII
}

// Interrupting reports the interrupt line: a pending event that is
// unmasked.
func (d *Device) Interrupting() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.regs[regEIR]&d.regs[regEIMR] != 0
}

// RaiseBusError sets EIR.EBERR, as the MAC does when its DMA fails.
func (d *Device) RaiseBusError() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.regs[regEIR] |= EventEBERR
}

// Counters are the model's counters.
type Counters struct {
	Missed     int // frames dropped: no free descriptor, or RDAR clear
	MDIO       int // management frames
	RDAR, TDAR int // doorbell writes
}

// Counters returns the model's counters.
func (d *Device) Counters() Counters {
	d.mu.Lock()
	defer d.mu.Unlock()
	return Counters{Missed: d.missed, MDIO: d.mdio, RDAR: d.rdar, TDAR: d.tdar}
}

// Config is how the driver set the MAC up, decoded.
type Config struct {
	Enabled    bool
	Speed      int // 10, 100 or 1000
	FullDuplex bool
	RGMII      bool
	MaxFL      int
	MAC        [6]byte
}

// Config returns the MAC's set-up.
func (d *Device) Config() Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := Config{Enabled: d.enabled(), Speed: 100, FullDuplex: d.regs[regTCR]&tcrFDEN != 0,
		RGMII: d.regs[regRCR]&rcrRGMII != 0, MaxFL: int(d.regs[regRCR] >> 16 & 0x3fff)}
	switch {
	case d.regs[regECR]&ecrSpeed != 0:
		c.Speed = 1000
	case d.regs[regRCR]&rcr10T != 0:
		c.Speed = 10
	}
	binary.BigEndian.PutUint32(c.MAC[:4], d.regs[regPALR])
	binary.BigEndian.PutUint16(c.MAC[4:], uint16(d.regs[regPAUR]>>16))
	return c
}

// mem32 is the word at bus address pa, or nil (and a fault) outside the
// window or unaligned.
func (d *Device) mem32(pa uint64, what string) *uint32 {
	if pa < d.base || pa+4 > d.base+uint64(len(d.mem)) || pa%4 != 0 {
		d.faultf("%s at %#x: outside DMA memory [%#x, %#x) or unaligned", what, pa, d.base, d.base+uint64(len(d.mem)))
		return nil
	}
	return (*uint32)(unsafe.Pointer(&d.mem[pa-d.base]))
}

// buffer is the n bytes at bus address pa, or nil (and a fault).
func (d *Device) buffer(pa uint64, n int, what string) []byte {
	if pa < d.base || pa+uint64(n) > d.base+uint64(len(d.mem)) {
		d.faultf("%s [%#x, %#x): outside DMA memory [%#x, %#x)", what, pa, pa+uint64(n), d.base, d.base+uint64(len(d.mem)))
		return nil
	}
	return d.mem[pa-d.base : pa-d.base+uint64(n)]
}

// desc is descriptor i of the ring at start: word 0 (length, status) and
// the buffer address.
type desc struct {
	w0   *uint32
	addr uint32
}

func (d *Device) desc(start uint32, i int, ring string) (desc, bool) {
	pa := uint64(start) + uint64(i)*descSize
	w0 := d.mem32(pa, ring+" descriptor")
	w1 := d.mem32(pa+4, ring+" descriptor")
	if w0 == nil || w1 == nil {
		return desc{}, false
	}
	return desc{w0: w0, addr: atomic.LoadUint32(w1)}, true
}

func (x desc) load() (length, status uint16) {
	w := atomic.LoadUint32(x.w0)
	return uint16(w), uint16(w >> 16)
}

func (x desc) store(length, status uint16) {
	atomic.StoreUint32(x.w0, uint32(status)<<16|uint32(length))
}

// CRC is the Ethernet FCS of frame as the MAC stores it after the frame.
func CRC(frame []byte) [4]byte {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], crc32.ChecksumIEEE(frame))
	return b
}
