// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

import (
	"fmt"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/mmio"
)

// Mem is memory the relay reaches by physical address: guest RAM (an
// address outside it is an error) or Ferry's shadow area. Slice is the n
// bytes at addr, in place (virtq.Mem's contract: hyp's guest RAM serves
// both).
type Mem interface {
	Slice(addr uint64, n int) ([]byte, error)
}

// Relaying is what the model needs to relay the device's rings.
type Relaying struct {
	// Guest is guest RAM by physical address; InRAM reports whether a
	// range lies in it.
	Guest Mem
	InRAM func(addr, size uint64) bool
	// Shadow is Ferry's memory for the two shadow rings, ShadowSize bytes
	// at ShadowBase, which the device reaches by DMA: on the i.MX8M Plus
	// a part of the carve-out's Non-cacheable window (the EQOS does not
	// snoop the CPU's caches), below 4 GiB.
	Shadow     Mem
	ShadowBase uint64
	// Wrote, if set, is told the guest memory the device or the relay
	// wrote (a migration's dirty tracking does not see it).
	Wrote func(addr, size uint64)
	// Fence, if set, orders the CPU's accesses to the shadow as the
	// device sees them (DMB OSH, Linux's dma_wmb and dma_rmb).
	Fence func()
	// Invalidate and Clean, if set, keep the CPU's caches coherent with
	// the guest's rings, which the guest maps Non-cacheable (its driver
	// allocates them coherent for a device that does not snoop) and
	// Ferry reaches through its cacheable map of guest RAM: Invalidate
	// (clean and invalidate to the point of coherency) before the relay
	// reads guest descriptors, Clean after it writes them.
	Invalidate, Clean func(addr, size uint64)
	// Sleep, if set, waits between polls of the device (Stop); else Go's.
	Sleep func(time.Duration)
	// Now, if set, is the clock Stop's wait is measured on (ns); else Go's.
	Now func() int64
}

func (rl *Relaying) fence() {
	if rl.Fence != nil {
		rl.Fence()
	}
}

func (rl *Relaying) syncRead(addr, n uint64) {
	if rl.Invalidate != nil {
		rl.Invalidate(addr, n)
	}
}

// syncWrote is the relay's write of guest memory at [addr, addr+n):
// cleaned to where the guest reads it, and marked written.
func (rl *Relaying) syncWrote(addr, n uint64) {
	if rl.Clean != nil {
		rl.Clean(addr, n)
	}
	if rl.Wrote != nil {
		rl.Wrote(addr, n)
	}
}

// per direction: the registers of channel 0 that set its ring up.
var chanRegs = [2]struct {
	control, start, base, baseHi, tail, ringLen, cur uint64
	psShift                                          uint
}{
	dirTx: {ChTxControl, TxControlST, ChTxBase, ChTxBaseHi, ChTxTail, ChTxRingLen, ChCurTxDesc, DebugTPS0Shift},
	dirRx: {ChRxControl, RxControlSR, ChRxBase, ChRxBaseHi, ChRxTail, ChRxRingLen, ChCurRxDesc, DebugRPS0Shift},
}

// Model is Ferry's model of the guest's EQOS DMA page (the registers at
// Page). The guest keeps the rest of the block; every access to this page
// goes through the model, which performs it on the device but for what
// would let the device reach memory the guest names unchecked:
//
//   - channel 0's descriptor list addresses and ring lengths are recorded
//     (and read back as written), not performed: when the guest starts a
//     ring (ST, SR) the device is given a shadow ring of the same length
//     in Ferry's memory instead, once the guest's ring is found in guest
//     RAM;
//   - a tail pointer write copies the guest's descriptors it gives the
//     device onto the shadow -- each buffer checked against guest RAM,
//     the descriptor rewritten to hold exactly the buffers checked --
//     and moves the device's tail to the same index of the shadow; a
//     descriptor refused stops the ring (a fault), nothing of it reaches
//     the device;
//   - the device's write-backs are copied onto the guest's descriptors,
//     and what it wrote into receive buffers reported (Wrote), at the
//     accesses the guest's driver makes when it looks for them: its
//     interrupt handler's reads of DMA_Interrupt_Status and DMA_CH0_Status,
//     its write to clear the latter, its DMA_CH0_Interrupt_Enable writes
//     (NAPI's), and each tail pointer write;
//   - what would change how the device reads the shadow is kept from it:
//     DSL (descriptor spacing) and EDSE (32-byte descriptors) stay 0,
//     EAME (the address mode) and RBSZ (receive buffer size) are not
//     changed while a ring holds descriptors checked under them;
//   - channels 1 to 4 take no write (the guest's DTB says one queue).
//
// Every width goes through the model: an 8-byte access is two 4-byte
// ones, low word first, as the i.MX8M Plus's 32-bit peripheral bus takes
// it; narrower or misaligned accesses are refused (read 0, reported once).
type Model struct {
	// Log, if set, receives each fault as it is recorded (at most
	// maxFaults lines, then one saying more came).
	Log func(string)

	mu    sync.Mutex
	dev   mmio.Device
	rl    Relaying
	rings [2]ring
	// The guest's channel 0 set-up the device does not hold as written.
	base, baseHi, ringLen, tail [2]uint32
	// fresh: the guest wrote the ring's base or length since it last
	// started it: its next start takes the ring afresh, at index 0.
	fresh   [2]bool
	eame    bool // the address mode the shadows' descriptors were written for
	paused  [2]bool
	refused bool
	faults  []string
	nfaults int
}

// New returns the model over the device's DMA page dev (offsets from
// Page), relaying through rl. It stops every DMA channel of the device
// (Reset).
func New(dev mmio.Device, rl Relaying) (*Model, error) {
	if rl.Guest == nil || rl.InRAM == nil || rl.Shadow == nil {
		return nil, fmt.Errorf("eqos: a relay needs guest RAM and a shadow area")
	}
	if rl.ShadowBase%DescSize != 0 || rl.ShadowBase+ShadowSize > 1<<32 {
		return nil, fmt.Errorf("eqos: shadow area at %#x: it must be 16-byte aligned and below 4 GiB", rl.ShadowBase)
	}
	m := &Model{dev: dev, rl: rl, fresh: [2]bool{true, true}}
	for d := range m.rings {
		r := &m.rings[d]
		r.dir = direction(d)
		r.sbase = rl.ShadowBase + uint64(d)*MaxRing*DescSize
		s, err := rl.Shadow.Slice(r.sbase, MaxRing*DescSize)
		if err != nil {
			return nil, fmt.Errorf("eqos: shadow area: %w", err)
		}
		r.s = s
		r.given, r.bufs, r.busy = make([]desc, MaxRing), make([][2]buffer, MaxRing), make([]bool, MaxRing)
	}
	m.mu.Lock()
	m.quiesce() // whatever the firmware left running reads rings nobody checked
	m.mu.Unlock()
	return m, nil
}

// How an access is performed (access).
const (
	accessRefused = iota
	accessRegister
	accessWide
)

func (m *Model) access(off uint64, size int, write bool) int {
	n := uint64(size)
	switch {
	case (n != 4 && n != 8) || off%n != 0 || off >= PageSize || PageSize-off < n:
		if !m.refused {
			m.refused = true
			m.fault(fmt.Sprintf("a %d-byte access (write %v) at %#x: the registers are 32 bits wide; ignored (reported once)", size, write, Page+off))
		}
		return accessRefused
	case n == 8:
		return accessWide
	}
	return accessRegister
}

// Read implements mmio.Device.
func (m *Model) Read(off uint64, size int) uint64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.access(off, size, false) {
	case accessWide:
		return uint64(m.read32(Page+off)) | uint64(m.read32(Page+off+4))<<32
	case accessRegister:
		return uint64(m.read32(Page + off))
	}
	return 0
}

// Write implements mmio.Device.
func (m *Model) Write(off uint64, size int, v uint64) {
	m.mu.Lock()
	defer m.mu.Unlock()
	switch m.access(off, size, true) {
	case accessWide:
		m.write32(Page+off, uint32(v))
		m.write32(Page+off+4, uint32(v>>32))
	case accessRegister:
		m.write32(Page+off, uint32(v))
	}
}

// devRead and devWrite reach the device's register at block offset off.
func (m *Model) devRead(off uint64) uint32     { return uint32(m.dev.Read(off-Page, 4)) }
func (m *Model) devWrite(off uint64, v uint32) { m.dev.Write(off-Page, 4, uint64(v)) }

func chan0(reg uint64) uint64 { return ChanBase + reg }

// read32 is a register read at block offset off.
func (m *Model) read32(off uint64) uint32 {
	ch, reg, isChan := chanReg(off)
	switch {
	case off == RegIntStatus:
		m.reapAll()
		return m.devRead(off)
	case off < commonEnd:
		return m.devRead(off)
	case !isChan:
		return 0
	case ch != 0:
		return m.devRead(off)
	}
	for d := range chanRegs {
		c := chanRegs[d]
		switch reg {
		case c.base:
			return m.base[d]
		case c.baseHi:
			return m.baseHi[d]
		case c.tail:
			return m.tail[d]
		case c.ringLen:
			return m.ringLen[d]
		case c.cur:
			return m.current(direction(d), m.devRead(off))
		}
	}
	if reg == ChStatus {
		m.reapAll()
	}
	return m.devRead(off)
}

// current is the device's current descriptor pointer v as the guest
// sees it: in its own ring, not the shadow.
func (m *Model) current(d direction, v uint32) uint32 {
	r := &m.rings[d]
	if off := v - uint32(r.sbase); r.valid && uint64(off) < uint64(r.n)*DescSize {
		return uint32(r.gbase) + off
	}
	return v
}

// write32 is a register write at block offset off.
func (m *Model) write32(off uint64, v uint32) {
	ch, reg, isChan := chanReg(off)
	switch {
	case off == RegMode:
		if v&ModeSWR != 0 {
			// What the device gave back before the reset is copied back
			// first (as it wrote it, natively), and what it received
			// marked written.
			m.reapAll()
		}
		m.devWrite(off, v)
		if v&ModeSWR != 0 {
			m.forget() // every register of the block is reset
		}
	case off == RegSysBusMode:
		if eame := v&SysBusEAME != 0; eame != m.eame && m.active() {
			m.fault(fmt.Sprintf("DMA_SysBus_Mode %#x: EAME changed while a ring holds descriptors written for the other address mode; kept", v))
			v ^= SysBusEAME
		}
		m.devWrite(off, v)
	case off < commonEnd:
		m.devWrite(off, v)
	case !isChan:
		m.fault(fmt.Sprintf("a write of %#x to %#x: no register there; ignored", v, off))
	case ch != 0:
		m.fault(fmt.Sprintf("a write of %#x to %#x, a register of DMA channel %d: Ferry relays channel 0 alone; ignored", v, off, ch))
	default:
		m.chan0Write(reg, v)
	}
}

func (m *Model) chan0Write(reg uint64, v uint32) {
	off := chan0(reg)
	for d := range chanRegs {
		c := chanRegs[d]
		switch reg {
		case c.base:
			m.base[d], m.fresh[d] = v, true
			return
		case c.baseHi:
			m.baseHi[d], m.fresh[d] = v, true
			return
		case c.ringLen:
			m.ringLen[d], m.fresh[d] = v&RingLenMask, true
			return
		case c.tail:
			m.tail[d] = v
			if r := &m.rings[d]; r.valid && r.running {
				m.relayTail(direction(d))
			}
			return
		case c.control:
			m.control(direction(d), v)
			return
		}
	}
	switch reg {
	case ChControl:
		if v&ControlDSLMask != 0 {
			m.fault(fmt.Sprintf("DMA_CH0_Control %#x: a descriptor skip length (DSL %d) spaces the descriptors the relay writes contiguous; DSL kept 0", v, v&ControlDSLMask>>ControlDSLShift))
			v &^= ControlDSLMask
		}
		if v&ControlSPH != 0 {
			m.rings[dirRx].sph = true
		}
		m.devWrite(off, v)
	case ChIntEnable, ChStatus:
		m.devWrite(off, v)
		m.reapAll()
	case ChRxWatchdog, ChSlotControl:
		m.devWrite(off, v)
	default:
		m.fault(fmt.Sprintf("a write of %#x to %#x: not a register of channel 0 the relay passes on; ignored", v, off))
	}
}

// control is a write of v to the ring's DMA_CH0_Tx_Control or
// DMA_CH0_Rx_Control: a start (ST, SR) goes through only once the relay
// has set the device up on the ring's shadow.
func (m *Model) control(d direction, v uint32) {
	c, r := chanRegs[d], &m.rings[d]
	if d == dirTx && v&TxControlEDSE != 0 {
		m.fault(fmt.Sprintf("DMA_CH0_Tx_Control %#x: enhanced (32-byte) descriptors, which the relay does not take; EDSE kept 0", v))
		v &^= TxControlEDSE
	}
	start := v&uint32(c.start) != 0
	switch {
	// A ring the relay runs on a device that no longer holds its shadow
	// (reset behind the relay's back) is started again, afresh.
	case start && (!r.running || !m.deviceHolds(d)):
		if err := m.start(d, &v); err != nil {
			m.fault(fmt.Sprintf("the %s ring not started: %v", d, err))
			v &^= uint32(c.start)
		} else {
			r.running = true
		}
	case d == dirRx:
		m.keepRBSZ(&v)
	}
	m.devWrite(chan0(c.control), v)
	if !start && r.running {
		// The device finishes the frame it is on, then stops. A driver
		// frees its ring after this (stmmac_release): the relay waits,
		// briefly, until the device says it has stopped and copies back
		// what it gave back now, not at some later access, when the
		// ring's memory may be something else.
		r.running = false
		for start := m.now(); !m.processStopped(d) && time.Duration(m.now()-start) < stopWait; {
			m.wait()
		}
		r.reap(&m.rl)
	}
}

// stopWait bounds how long a guest's stop of a ring waits for the
// device's process to stop: a frame in flight, 1.2 ms for a full frame
// at 10 Mbit/s.
const stopWait = 5 * time.Millisecond

// keepRBSZ keeps the receive buffer size the receive ring's buffers were
// checked for while it holds any: the device would write past them.
func (m *Model) keepRBSZ(v *uint32) {
	r := &m.rings[dirRx]
	if !r.valid {
		return
	}
	r.reap(&m.rl)
	rbsz := uint64(*v&RxControlRBSZMask) >> RxControlRBSZShift
	// Buffers held by a device that has stopped, on a ring the guest set
	// up again since, are never the device's again: the next start is
	// afresh.
	dead := m.fresh[dirRx] && m.processStopped(dirRx)
	if rbsz != r.chk.rbsz && (r.running || (r.held > 0 && !dead)) {
		m.fault(fmt.Sprintf("DMA_CH0_Rx_Control %#x: RBSZ %d while the receive ring holds buffers checked for %d; kept", *v, rbsz, r.chk.rbsz))
		*v = *v&^RxControlRBSZMask | uint32(r.chk.rbsz)<<RxControlRBSZShift
	}
}

// start sets the device up to run the ring d, about to be started by the
// control value *v: where the device stopped (a ring the guest started
// before and has not set up again since, on a device that still holds
// the shadow), or afresh from index 0 of the guest's ring as it is set up
// now, on a cleared shadow. Then the guest's descriptors are copied up to
// its tail pointer, and the device's tail moved to match.
func (m *Model) start(d direction, v *uint32) error {
	c, r := chanRegs[d], &m.rings[d]
	if r.valid {
		r.reap(&m.rl)
		if !m.fresh[d] && m.deviceHolds(d) {
			if d == dirRx {
				m.keepRBSZ(v)
			}
			m.relayTail(d)
			return nil
		}
		if r.held > 0 && !m.processStopped(d) {
			return fmt.Errorf("the device's %s process has not stopped since the ring last ran (DMA_Debug_Status0 %#x)", d, m.devRead(RegDebugStatus0))
		}
	}
	eame := m.devRead(RegSysBusMode)&SysBusEAME != 0
	if o := &m.rings[1-d]; o.valid && (o.running || o.held > 0) && eame != m.eame {
		return fmt.Errorf("the device's address mode (EAME %v) is not the one the %s ring's descriptors were written for", eame, o.dir)
	}
	gbase := uint64(m.base[d])
	if eame {
		gbase |= uint64(m.baseHi[d]) << 32
	}
	n := int(m.ringLen[d]&RingLenMask) + 1
	size := uint64(n) * DescSize
	if gbase%DescSize != 0 || gbase+size < gbase || !m.rl.InRAM(gbase, size) {
		return fmt.Errorf("%w: its descriptor ring [%#x+%#x]", ErrRange, gbase, size)
	}
	g, err := m.rl.Guest.Slice(gbase, int(size))
	if err != nil {
		return err
	}
	var rbsz uint64
	if d == dirRx {
		if rbsz = uint64(*v&RxControlRBSZMask) >> RxControlRBSZShift; rbsz == 0 {
			return fmt.Errorf("%w: a receive buffer size (RBSZ) of 0", ErrShape)
		}
	}
	// What the device reads the shadow with: descriptors contiguous.
	if ctl := m.devRead(chan0(ChControl)); ctl&ControlDSLMask != 0 {
		m.devWrite(chan0(ChControl), ctl&^ControlDSLMask)
	}
	if tc := m.devRead(chan0(ChTxControl)); tc&TxControlEDSE != 0 {
		m.devWrite(chan0(ChTxControl), tc&^TxControlEDSE)
	}
	r.reset()
	r.gbase, r.n, r.g = gbase, n, g
	r.chk = checker{inRAM: m.rl.InRAM, eame: eame, rbsz: rbsz}
	if d == dirRx {
		r.sph = m.devRead(chan0(ChControl))&ControlSPH != 0
	}
	clear(r.s[:size])
	m.rl.fence()
	m.eame, r.valid, m.fresh[d] = eame, true, false
	m.devWrite(chan0(c.baseHi), uint32(r.sbase>>32))
	m.devWrite(chan0(c.base), uint32(r.sbase))
	m.devWrite(chan0(c.ringLen), uint32(n-1))
	m.relayTail(d)
	return nil
}

// deviceHolds reports whether the device still has the ring's shadow as
// the relay set it up: its list address, ring length and address mode
// (not reset behind the relay's back, by the clock controller's reset,
// say).
func (m *Model) deviceHolds(d direction) bool {
	c, r := chanRegs[d], &m.rings[d]
	return m.devRead(chan0(c.base)) == uint32(r.sbase) && m.devRead(chan0(c.baseHi)) == uint32(r.sbase>>32) &&
		m.devRead(chan0(c.ringLen))&RingLenMask == uint32(r.n-1) &&
		(m.devRead(RegSysBusMode)&SysBusEAME != 0) == m.eame
}

// processStopped reports whether the device's process for d is Stopped
// (DMA_Debug_Status0): it takes no more descriptors and writes nothing.
func (m *Model) processStopped(d direction) bool {
	return m.devRead(RegDebugStatus0)>>chanRegs[d].psShift&debugPSMask == 0
}

// relayTail copies back what the device gave back of ring d, copies the
// guest's descriptors up to its tail pointer onto the shadow, and moves
// the device's tail pointer to the same index of the shadow.
func (m *Model) relayTail(d direction) {
	r := &m.rings[d]
	r.reap(&m.rl)
	t, ok := r.tailIndex(m.tail[d])
	if !ok {
		m.fault(fmt.Sprintf("%s tail pointer %#x names no descriptor of the guest's ring [%#x, %d descriptors]; ignored", d, m.tail[d], r.gbase, r.n))
		return
	}
	if _, err := r.fill(&m.rl, t); err != nil {
		m.fault(fmt.Sprintf("%v: the %s ring is stopped (no more of it reaches the device until the guest starts it again)", err, d))
	}
	m.rl.fence() // the descriptors before the doorbell
	m.devWrite(chan0(chanRegs[d].tail), uint32(r.sbase)+uint32(t*DescSize))
}

// reapAll copies back what the device gave back of both rings.
func (m *Model) reapAll() {
	for d := range m.rings {
		if r := &m.rings[d]; r.valid {
			r.reap(&m.rl)
		}
	}
}

// active reports whether a ring runs or holds descriptors.
func (m *Model) active() bool {
	for _, r := range m.rings {
		if r.valid && (r.running || r.held > 0) {
			return true
		}
	}
	return false
}

// forget drops everything the relay knew of the device's set-up: the
// block was reset, its DMA stopped and its registers at their reset
// values.
func (m *Model) forget() {
	for d := range m.rings {
		r := &m.rings[d]
		r.reset()
		r.valid, r.running, r.sph = false, false, false
	}
	m.base, m.baseHi, m.ringLen, m.tail = [2]uint32{}, [2]uint32{}, [2]uint32{}, [2]uint32{}
	m.fresh, m.paused, m.eame = [2]bool{true, true}, [2]bool{}, false
}

// maxFaults bounds the faults a Model keeps and logs.
const maxFaults = 16

// fault records a refusal.
func (m *Model) fault(s string) {
	m.nfaults++
	if len(m.faults) == maxFaults {
		m.faults = m.faults[1:]
	}
	m.faults = append(m.faults, s)
	switch {
	case m.Log == nil:
	case m.nfaults <= maxFaults:
		m.Log(s)
	case m.nfaults == maxFaults+1:
		m.Log(fmt.Sprintf("more faults than %d: no more logged (the board's status keeps the last)", maxFaults))
	}
}

// Faults are the last refusals, oldest first.
func (m *Model) Faults() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.faults...)
}

// Holding reports how many descriptors of each ring (transmit, receive)
// the device holds.
func (m *Model) Holding() (tx, rx int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.rings[dirTx].held, m.rings[dirRx].held
}
