// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package fakeeqos is a software model of the Synopsys DWC Ethernet QoS
// (EQOS 5.10a, the i.MX8M Plus's ENET_QOS) DMA, for host tests of package
// eqos and what is built on it: its DMA register page (DMA_Mode,
// DMA_SysBus_Mode, the interrupt and debug status, and five channels'
// registers), and the channels' DMA engines walking their descriptor
// rings over a Bus of physical memory as the databook describes -- the
// list address (40 bits with EAME), the ring length, the tail pointer
// the engine stops at (one past the ring's end: never), OWN, descriptors
// spaced by DSL bus beats and 32 bytes apart with EDSE, transmit buffers
// 1 and 2 (buffer 2's address in TDES1 without EAME), receive buffers of
// RBSZ bytes (buffer 2's high bits in RDES3 with EAME), frames over
// several descriptors, write-backs that clear OWN, TI and RI under IOC,
// TBU and RBU when a descriptor is not the DMA's, a fatal bus error that
// stops the channel. Every access the engines make to memory is logged
// (Bus.Log), so a test sees where the device read and wrote.
//
// It is written from the databook independently of package eqos (it does
// not import it), so the two cross-check each other. It is not for use
// outside tests.
package fakeeqos

import (
	"encoding/binary"
	"fmt"
	"sync"
)

// Region is physical memory at Base.
type Region struct {
	Name string
	Base uint64
	B    []byte
}

// Access is one memory access the device made.
type Access struct {
	Addr  uint64
	Size  int
	Write bool
}

// Bus is the memory the device masters: regions of physical memory, and
// the log of the device's accesses to them. An access outside every
// region is a bus error.
type Bus struct {
	Regions []*Region
	Log     []Access
}

func (b *Bus) find(addr uint64, n int) ([]byte, error) {
	for _, r := range b.Regions {
		if addr >= r.Base && addr-r.Base <= uint64(len(r.B)) && uint64(len(r.B))-(addr-r.Base) >= uint64(n) {
			return r.B[addr-r.Base:][:n], nil
		}
	}
	return nil, fmt.Errorf("fakeeqos: no memory at [%#x+%#x]", addr, n)
}

// Slice is the n bytes at addr in place: the CPU's access (not logged).
func (b *Bus) Slice(addr uint64, n int) ([]byte, error) { return b.find(addr, n) }

func (b *Bus) read(addr uint64, n int) ([]byte, error) {
	b.Log = append(b.Log, Access{addr, n, false})
	p, err := b.find(addr, n)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), p...), nil
}

func (b *Bus) write(addr uint64, p []byte) error {
	b.Log = append(b.Log, Access{addr, len(p), true})
	q, err := b.find(addr, len(p))
	if err != nil {
		return err
	}
	copy(q, p)
	return nil
}

// Register offsets in the DMA page (block offset less 0x1000) and bits.
const (
	regMode      = 0x000
	regSysBus    = 0x004
	regIntStatus = 0x008
	regDebug0    = 0x00c
	chBase       = 0x100
	chStride     = 0x80
	channels     = 5

	chControl = 0x00
	chTxCtl   = 0x04
	chRxCtl   = 0x08
	chTxHi    = 0x10
	chTxLo    = 0x14
	chRxHi    = 0x18
	chRxLo    = 0x1c
	chTxTail  = 0x20
	chRxTail  = 0x28
	chTxLen   = 0x2c
	chRxLen   = 0x30
	chIntEn   = 0x34
	chCurTx   = 0x44
	chCurRx   = 0x4c
	chStatus  = 0x60

	modeSWR  = 1 << 0
	sysEAME  = 1 << 11
	ctlDSL   = 18 // 3 bits
	txST     = 1 << 0
	txEDSE   = 1 << 28
	rxSR     = 1 << 0
	rbszMask = 0x3fff // at bit 1

	stTI  = 1 << 0
	stTBU = 1 << 2
	stRI  = 1 << 6
	stRBU = 1 << 7
	stFBE = 1 << 12
	stAIS = 1 << 14
	stNIS = 1 << 15

	own     = 1 << 31
	ctxt    = 1 << 30 // TDES3 both formats; RDES3 write-back
	rxIOC   = 1 << 30 // RDES3 read format
	txIOC   = 1 << 31 // TDES2
	fd      = 1 << 29
	ld      = 1 << 28
	buf2v   = 1 << 25
	buf1v   = 1 << 24
	busBeat = 8 // the AXI data width, bytes: DSL's unit
)

type dir int

const (
	tx dir = iota
	rx
)

// engine is one channel's transmit or receive DMA. It runs until its
// current descriptor pointer, moving on, reaches the tail pointer, or it
// finds a descriptor it does not own: then it is suspended until the
// tail pointer is written (the databook: "descriptors up to one location
// less than the one indicated by the descriptor tail pointer are owned by
// the DMA"; "the DMA goes into suspend mode when Current Descriptor
// Pointer == Descriptor Tail Pointer, and updating the tail pointer
// resumes it").
type engine struct {
	cur       int    // the current descriptor's index
	suspended bool   // it waits for a tail pointer write
	stopping  int    // debug-status reads before a cleared ST/SR shows Stopped
	frame     []byte // a transmit frame gathered so far
}

// Device is the model of the DMA page: an mmio.Device at the page's
// offsets, 32-bit accesses only.
type Device struct {
	Bus *Bus
	// Sent are the frames the transmit engines sent, by channel.
	Sent [channels][][]byte
	// HoldTX: transmit engines run only when RunTX says, not at each
	// tail pointer write or start.
	HoldTX bool
	// StopLag is how many reads of DMA_Debug_Status0 a process that was
	// told to stop still shows as running; Hang: it never stops.
	StopLag int
	Hang    bool
	// Missed counts frames Receive could not place; Faults the device's
	// bus errors and refused accesses.
	Missed int
	Faults []string

	mu   sync.Mutex
	regs [0x1000 / 4]uint32
	eng  [channels][2]engine
}

// New returns a device at its reset state over bus.
func New(bus *Bus) *Device { return &Device{Bus: bus} }

func (d *Device) reg(off int) uint32       { return d.regs[off/4] }
func (d *Device) setReg(off int, v uint32) { d.regs[off/4] = v }
func chanOff(c, reg int) int               { return chBase + c*chStride + reg }

// Read implements mmio.Device.
func (d *Device) Read(off uint64, size int) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	if size != 4 || off%4 != 0 || off >= 0x1000 {
		d.Faults = append(d.Faults, fmt.Sprintf("a %d-byte read at %#x", size, off))
		return 0
	}
	o := int(off)
	switch {
	case o == regIntStatus:
		var v uint32
		for c := range channels {
			if d.reg(chanOff(c, chStatus)) != 0 {
				v |= 1 << c
			}
		}
		return uint64(v)
	case o == regDebug0:
		return uint64(d.processState(0, tx)<<12 | d.processState(0, rx)<<8)
	case o >= chBase && o < chBase+channels*chStride:
		c, r := (o-chBase)/chStride, (o-chBase)%chStride
		switch r {
		case chCurTx:
			return uint64(uint32(d.descAddr(c, tx, d.eng[c][tx].cur)))
		case chCurRx:
			return uint64(uint32(d.descAddr(c, rx, d.eng[c][rx].cur)))
		}
	}
	return uint64(d.reg(o))
}

// processState is DMA_Debug_Status0's TPS/RPS for channel c: 0 Stopped,
// 6 (transmit) or 4 (receive) Suspended while running, 7 or 5 closing
// while it has not stopped yet.
func (d *Device) processState(c int, x dir) uint32 {
	e := &d.eng[c][x]
	switch {
	case d.running(c, x):
		if x == tx {
			return 6
		}
		return 4
	case d.Hang && e.stopping > 0:
		return 7
	case e.stopping > 0:
		e.stopping--
		return 7
	}
	return 0
}

// Write implements mmio.Device.
func (d *Device) Write(off uint64, size int, v64 uint64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if size != 4 || off%4 != 0 || off >= 0x1000 {
		d.Faults = append(d.Faults, fmt.Sprintf("a %d-byte write of %#x at %#x", size, v64, off))
		return
	}
	v, o := uint32(v64), int(off)
	switch {
	case o == regMode:
		if v&modeSWR != 0 {
			d.regs, d.eng = [0x1000 / 4]uint32{}, [channels][2]engine{}
			return // self-clearing: the reset is done at once
		}
		d.setReg(o, v)
	case o == regIntStatus || o == regDebug0:
	case o >= chBase && o < chBase+channels*chStride:
		d.chanWrite((o-chBase)/chStride, (o-chBase)%chStride, v)
	default:
		d.setReg(o, v)
	}
}

func (d *Device) chanWrite(c, r int, v uint32) {
	o := chanOff(c, r)
	switch r {
	case chStatus:
		d.setReg(o, d.reg(o)&^v)
	case chCurTx, chCurRx:
	case chTxLo, chTxHi:
		d.setReg(o, v)
		d.eng[c][tx].cur = 0 // a new list: the engine starts at its base
	case chRxLo, chRxHi:
		d.setReg(o, v)
		d.eng[c][rx].cur = 0
	case chTxCtl:
		d.control(c, tx, o, v)
		if d.running(c, tx) && !d.HoldTX {
			d.runTX(c)
		}
	case chRxCtl:
		d.control(c, rx, o, v)
	case chTxTail:
		d.setReg(o, v)
		d.eng[c][tx].suspended = false
		if d.running(c, tx) && !d.HoldTX {
			d.runTX(c)
		}
	case chRxTail:
		d.setReg(o, v)
		d.eng[c][rx].suspended = false
	default:
		d.setReg(o, v)
	}
}

// control is a write to the transmit or receive control register: a
// start fetches at the current descriptor unless it is the tail's; a
// stop takes StopLag reads of the debug status to show.
func (d *Device) control(c int, x dir, o int, v uint32) {
	was := d.running(c, x)
	d.setReg(o, v)
	e := &d.eng[c][x]
	switch now := d.running(c, x); {
	case was && !now:
		e.stopping = d.StopLag
	case !was && now:
		e.suspended = uint32(d.descAddr(c, x, e.cur)) == d.tail(c, x)
	}
}

func (d *Device) running(c int, x dir) bool {
	if x == tx {
		return d.reg(chanOff(c, chTxCtl))&txST != 0
	}
	return d.reg(chanOff(c, chRxCtl))&rxSR != 0
}

// ring is channel c's ring x as the device reads it: its base, its
// length, the stride between descriptors and where the normal
// descriptor's words sit in each.
func (d *Device) ring(c int, x dir) (base uint64, n int, stride, at uint64) {
	lo, hi, ln := chTxLo, chTxHi, chTxLen
	if x == rx {
		lo, hi, ln = chRxLo, chRxHi, chRxLen
	}
	base = uint64(d.reg(chanOff(c, lo)))
	if d.reg(regSysBus)&sysEAME != 0 {
		base |= uint64(d.reg(chanOff(c, hi))) << 32
	}
	n = int(d.reg(chanOff(c, ln))&0x3ff) + 1
	stride = 16 + uint64(d.reg(chanOff(c, chControl))>>ctlDSL&7)*busBeat
	if x == tx && d.reg(chanOff(c, chTxCtl))&txEDSE != 0 {
		stride += 16 // enhanced: TDES4-7, then the normal words
		at = 16
	}
	return base, n, stride, at
}

func (d *Device) descAddr(c int, x dir, i int) uint64 {
	base, _, stride, _ := d.ring(c, x)
	return base + uint64(i)*stride
}

func (d *Device) tail(c int, x dir) uint32 {
	if x == tx {
		return d.reg(chanOff(c, chTxTail))
	}
	return d.reg(chanOff(c, chRxTail))
}

func (d *Device) status(c int, bits uint32) {
	o := chanOff(c, chStatus)
	d.setReg(o, d.reg(o)|bits)
}

// busError stops channel c's engines, as a fatal bus error does.
func (d *Device) busError(c int, err error) {
	d.Faults = append(d.Faults, fmt.Sprintf("channel %d: fatal bus error: %v", c, err))
	d.status(c, stFBE|stAIS)
	d.setReg(chanOff(c, chTxCtl), d.reg(chanOff(c, chTxCtl))&^txST)
	d.setReg(chanOff(c, chRxCtl), d.reg(chanOff(c, chRxCtl))&^rxSR)
}

func words(b []byte) [4]uint32 {
	return [4]uint32{binary.LittleEndian.Uint32(b), binary.LittleEndian.Uint32(b[4:]), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint32(b[12:])}
}

// RunTX runs channel c's transmit engine until it reaches the tail
// pointer or a descriptor it does not own.
func (d *Device) RunTX(c int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.runTX(c)
}

func (d *Device) runTX(c int) {
	if !d.running(c, tx) {
		return
	}
	base, n, stride, at := d.ring(c, tx)
	eame := d.reg(regSysBus)&sysEAME != 0
	e := &d.eng[c][tx]
	for steps := 0; steps < n && !e.suspended; steps++ {
		addr := base + uint64(e.cur)*stride
		b, err := d.Bus.read(addr+at, 16)
		if err != nil {
			d.busError(c, err)
			return
		}
		w := words(b)
		if w[3]&own == 0 {
			d.status(c, stTBU)
			e.suspended = true
			return
		}
		if w[3]&ctxt == 0 {
			if w[3]&fd != 0 {
				e.frame = e.frame[:0]
			}
			a1 := uint64(w[0])
			if eame {
				a1 |= uint64(w[1]) << 32
			}
			bufs := [][2]uint64{{a1, uint64(w[2] & 0x3fff)}}
			if !eame {
				// With EAME TDES1 is buffer 1's high address, and the
				// model reads no buffer 2.
				bufs = append(bufs, [2]uint64{uint64(w[1]), uint64(w[2] >> 16 & 0x3fff)})
			}
			for _, buf := range bufs {
				if buf[1] == 0 {
					continue
				}
				p, err := d.Bus.read(buf[0], int(buf[1]))
				if err != nil {
					d.busError(c, err)
					return
				}
				e.frame = append(e.frame, p...)
			}
			if w[3]&ld != 0 {
				d.Sent[c] = append(d.Sent[c], append([]byte(nil), e.frame...))
				if w[2]&txIOC != 0 {
					d.status(c, stTI|stNIS)
				}
			}
		}
		var wb [4]byte
		binary.LittleEndian.PutUint32(wb[:], w[3]&^own)
		if err := d.Bus.write(addr+at+12, wb[:]); err != nil {
			d.busError(c, err)
			return
		}
		d.advance(c, tx, n)
	}
}

// advance moves engine x of channel c to its next descriptor, suspending
// it there if that is the tail pointer's.
func (d *Device) advance(c int, x dir, n int) {
	e := &d.eng[c][x]
	e.cur = (e.cur + 1) % n
	if uint32(d.descAddr(c, x, e.cur)) == d.tail(c, x) {
		e.suspended = true
	}
}

// Receive places a frame (as the MAC hands it over, CRC included or not)
// in channel 0's receive ring, over as many descriptors as it takes,
// and reports whether it could: not without SR, nor with the engine
// suspended -- at the tail pointer, or at a descriptor it does not own
// (RBU) -- the frame is then missed.
func (d *Device) Receive(frame []byte) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	const c = 0
	if !d.running(c, rx) {
		d.Missed++
		return false
	}
	base, n, stride, _ := d.ring(c, rx)
	eame := d.reg(regSysBus)&sysEAME != 0
	rbsz := int(d.reg(chanOff(c, chRxCtl)) >> 1 & rbszMask)
	e := &d.eng[c][rx]
	left, first := frame, true
	for steps := 0; steps < n && !e.suspended; steps++ {
		addr := base + uint64(e.cur)*stride
		b, err := d.Bus.read(addr, 16)
		if err != nil {
			d.busError(c, err)
			return false
		}
		w := words(b)
		if w[3]&own == 0 {
			e.suspended = true
			break
		}
		var bufs [][2]uint64
		if w[3]&buf1v != 0 {
			a := uint64(w[0])
			if eame {
				a |= uint64(w[1]) << 32
			}
			bufs = append(bufs, [2]uint64{a, uint64(rbsz)})
		}
		if w[3]&buf2v != 0 {
			a := uint64(w[2])
			if eame {
				a |= uint64(w[3]&0xffff) << 32
			}
			bufs = append(bufs, [2]uint64{a, uint64(rbsz)})
		}
		for _, buf := range bufs {
			k := min(len(left), int(buf[1]))
			if k == 0 {
				break
			}
			if err := d.Bus.write(buf[0], left[:k]); err != nil {
				d.busError(c, err)
				return false
			}
			left = left[k:]
		}
		var wb [16]byte
		w3 := uint32(0)
		if first {
			w3 |= fd
		}
		if len(left) == 0 {
			w3 |= ld | uint32(len(frame))&0x7fff
		}
		binary.LittleEndian.PutUint32(wb[12:], w3)
		if err := d.Bus.write(addr, wb[:]); err != nil {
			d.busError(c, err)
			return false
		}
		d.advance(c, rx, n)
		first = false
		if len(left) == 0 {
			if w[3]&rxIOC != 0 {
				d.status(c, stRI|stNIS)
			}
			return true
		}
	}
	d.status(c, stRBU)
	d.Missed++
	return false
}

// Cur is the index of channel c's current descriptor in ring x (0:
// transmit, 1: receive).
func (d *Device) Cur(c, x int) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.eng[c][x].cur
}

// Reg is the register at page offset off, as the device holds it.
func (d *Device) Reg(off int) uint32 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reg(off)
}
