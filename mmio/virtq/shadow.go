// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package virtq is the split virtqueue (virtio 1.2, 2.7 "Split
// Virtqueues") as Ferry's shadow relays it: a device whose own position in
// a queue cannot be set (a fresh virtio-mmio device starts at 0, the
// guest's rings after a migration are at N) runs on rings in Ferry's
// memory, and Shadow copies the guest's new available chains onto them
// and the device's used entries back onto the guest's used ring. Every
// chain is copied, indirect tables included, and every buffer is checked
// against guest RAM before the device sees it: the guest cannot change a
// descriptor after the check, nor point the device into Ferry's memory.
//
// It works on two Mems (the guest's RAM and Ferry's shadow area) and is
// pure logic, host-tested over byte slices.
package virtq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
)

// UsedNoNotify is the used ring's flag that tells the driver not to kick
// (VIRTQ_USED_F_NO_NOTIFY, 2.7.10).
const UsedNoNotify = 1

// With VIRTIO_F_EVENT_IDX (2.7.7.2, 2.7.10.2) each ring has a word after
// its entries: used_event after the available ring's (the driver's: signal
// me when you write this used entry) and avail_event after the used
// ring's (the device's: notify me when this entry is made available). The
// flags are then ignored.
func usedEventAt(num uint16) uint64  { return ringHead + 2*uint64(num) }
func availEventAt(num uint16) uint64 { return ringHead + usedElem*uint64(num) }

// Descriptor flags (2.7.5 "The Virtqueue Descriptor Table").
const (
	DescNext     = 1 // the buffer continues in Next
	DescWrite    = 2 // device-writable (else device-readable)
	DescIndirect = 4 // the buffer is a table of descriptors
)

// Layout sizes (2.7.5, 2.7.6, 2.7.8).
const (
	descSize  = 16 // addr u64, len u32, flags u16, next u16
	usedElem  = 8  // id u32, len u32
	ringHead  = 4  // flags u16, idx u16
	MaxSize   = 32768
	maxTable  = 64 // descriptors in one indirect table Ferry copies
	tableSize = maxTable * descSize
)

// Mem is memory the relay reaches by physical address: the guest's RAM
// (an address outside it is an error) or Ferry's shadow area. Slice is
// the n bytes at addr, in place: a relay takes its queue's rings once,
// when it starts, and reads and writes them there.
type Mem interface {
	Slice(addr uint64, n int) ([]byte, error)
}

// Region is memory at a physical base held in a byte slice: Ferry's shadow
// areas on a board (Ferry's heap is identity-mapped), and any memory in
// tests.
type Region struct {
	Base uint64
	B    []byte
}

func (m *Region) span(addr uint64, n int) ([]byte, error) {
	if addr < m.Base || addr-m.Base+uint64(n) > uint64(len(m.B)) {
		return nil, fmt.Errorf("[%#x+%#x] is outside [%#x+%#x]", addr, n, m.Base, len(m.B))
	}
	return m.B[addr-m.Base : addr-m.Base+uint64(n)], nil
}

// Slice implements Mem.
func (m *Region) Slice(addr uint64, n int) ([]byte, error) { return m.span(addr, n) }

// Ring is one split virtqueue's three areas and its size.
type Ring struct {
	Num                  uint16
	Desc, Driver, Device uint64
}

// areas are a ring's areas in place: its descriptor table, its available
// ring and its used ring, each with its event index.
type areas struct{ desc, avail, used []byte }

// in takes r's areas from m.
func (r Ring) in(m Mem) (a areas, err error) {
	n := int(r.Num)
	if a.desc, err = m.Slice(r.Desc, descSize*n); err != nil {
		return a, err
	}
	if a.avail, err = m.Slice(r.Driver, ringHead+2*n+2); err != nil {
		return a, err
	}
	a.used, err = m.Slice(r.Device, ringHead+usedElem*n+2)
	return a, err
}

func get16(b []byte, off uint64) uint16    { return binary.LittleEndian.Uint16(b[off:]) }
func put16(b []byte, off uint64, v uint16) { binary.LittleEndian.PutUint16(b[off:], v) }

// ShadowSize is the bytes of Ferry's memory a shadow of a queue of num
// entries needs at its base: the descriptor table, the available and
// used rings, and one indirect table per descriptor.
func ShadowSize(num uint16) uint64 {
	n := uint64(num)
	return n*descSize + align(ringHead+2*n+2, 4) + align(ringHead+usedElem*n+2, 8) + n*tableSize
}

func align(v, a uint64) uint64 { return (v + a - 1) &^ (a - 1) }

// ShadowRing is the layout of a shadow of num entries at base (Ferry's
// memory): what the device is programmed with.
func ShadowRing(base uint64, num uint16) Ring {
	n := uint64(num)
	desc := base
	avail := desc + n*descSize
	used := avail + align(ringHead+2*n+2, 4)
	return Ring{Num: num, Desc: desc, Driver: avail, Device: used}
}

// indirectBase is where the shadow's indirect tables start.
func indirectBase(r Ring) uint64 {
	return r.Device + align(ringHead+usedElem*uint64(r.Num)+2, 8)
}

// Errors a relay reports; but for ErrWait, the queue must then stop.
var (
	ErrRange = errors.New("virtq: a buffer outside guest RAM")
	ErrChain = errors.New("virtq: a malformed descriptor chain")
	ErrIndex = errors.New("virtq: a ring index out of step")
	// ErrWait is not the guest's fault: Ferry's own chain holds a
	// descriptor for a moment (Inject). Relay Used, then try again.
	ErrWait = errors.New("virtq: Ferry's own chain is with the device")
)

// Shadow relays one queue between the guest's ring and the shadow ring.
type Shadow struct {
	guest, shadow Ring
	gm            Mem
	g, sh         areas  // the rings in place
	tables        []byte // the shadow's indirect tables
	// InRAM reports whether [addr, addr+size) lies in guest RAM.
	InRAM func(addr, size uint64) bool
	// Wrote, if set, is told what the device wrote of a chain it used
	// (its device-writable buffers, in order, up to the used entry's
	// length), and the guest's used ring entry Ferry wrote: guest memory
	// written without the CPU, which stage-2 dirty tracking does not see
	// and a migration must send again.
	Wrote func(addr, size uint64)
	// EventIdx is VIRTIO_F_EVENT_IDX, negotiated by the guest and the
	// device alike; set it before the first relay. The guest is then told
	// when to kick by avail_event (NoNotify), and the device when to
	// interrupt by the shadow's used_event (Arm).
	EventIdx bool
	// Fence, if set, orders Ferry's memory accesses as the device sees
	// them (a DMB): the shadow's available entries before its index, the
	// device's used index before its entries, and used_event (Arm) before
	// the used index is read again.
	Fence func()
	// Now, if set, is a clock (ns): each chain records when it was made
	// available to the device (read once per Avail), for OldestRequest.
	Now func() int64
	// GivenBack are the chains in flight that NewShadow could not copy
	// again (the guest changed them while the device held them): each
	// was given back to the guest as used with nothing written.
	GivenBack []error

	lastAvail uint16  // the guest's next available entry to copy
	nextUsed  uint16  // the guest's next used entry to write
	shAvail   uint16  // the shadow's available index
	shUsed    uint16  // the shadow's used entries seen
	busy      []bool  // by descriptor: part of a chain the device holds
	inFlight  []bool  // by head: the device holds the chain at it
	readable  []bool  // by head: the chain has a device-readable buffer
	since     []int64 // by head: when it was made available (Now)
	// next and prev link the heads in flight in the order they were made
	// available, from first to last (-1: none).
	next, prev   []int32
	first, last  int32
	held         int  // chains in flight, the guest's
	heldReadable int  // of them, with a device-readable buffer
	own          int  // the head of Ferry's own chain the device holds (Inject), or -1
	noNotify     bool // the guest is told not to kick (UsedNoNotify, or avail_event behind)
	waited       bool // the last Avail stopped at ErrWait
	// The event indices last written (EventIdx): the guest's avail_event,
	// the shadow's used_event.
	availEvent, usedEvent     uint16
	availEventOK, usedEventOK bool

	now int64 // Now at the last Avail that took chains

	// Scratch space, so that a relay allocates nothing.
	seen [maxTable]bool
}

// Position is where a queue stands, in the guest's terms: the next entry
// of its available ring to take, the next entry of its used ring to
// write, and the heads the device holds, in the order they were made
// available. Avail - Used is how many it holds: a device stopped with
// only device-writable chains in flight (receive buffers) is given them
// again by a new relay, at the same positions.
type Position struct {
	Avail, Used uint16
	InFlight    []uint16
}

// NewShadow starts a relay at the guest's position at (a fresh queue: both
// indices 0 and nothing in flight) with a fresh shadow ring at base in sm:
// the chains at.InFlight are copied onto it again, checked as the guest's
// new chains are.
func NewShadow(guest Ring, gm Mem, base uint64, sm Mem, at Position, inRAM func(addr, size uint64) bool) (*Shadow, error) {
	if guest.Num == 0 || guest.Num&(guest.Num-1) != 0 || uint32(guest.Num) > MaxSize {
		return nil, fmt.Errorf("virtq: queue size %d", guest.Num)
	}
	if n := at.Avail - at.Used; int(n) != len(at.InFlight) || n > guest.Num {
		return nil, fmt.Errorf("%w: positions %d and %d with %d chains in flight in a queue of %d", ErrIndex, at.Avail, at.Used, len(at.InFlight), guest.Num)
	}
	for k, h := range at.InFlight {
		if h >= guest.Num || slices.Contains(at.InFlight[:k], h) {
			return nil, fmt.Errorf("%w: head %d in flight twice or beyond a queue of %d", ErrIndex, h, guest.Num)
		}
	}
	n := int(guest.Num)
	s := &Shadow{guest: guest, shadow: ShadowRing(base, guest.Num), gm: gm, InRAM: inRAM,
		lastAvail: at.Avail, nextUsed: at.Used, own: -1, first: -1, last: -1,
		busy: make([]bool, n), inFlight: make([]bool, n), readable: make([]bool, n), since: make([]int64, n), next: make([]int32, n), prev: make([]int32, n)}
	all, err := sm.Slice(base, int(ShadowSize(guest.Num)))
	if err != nil {
		return nil, err
	}
	clear(all)
	if s.sh, err = s.shadow.in(sm); err != nil {
		return nil, err
	}
	if s.tables, err = sm.Slice(indirectBase(s.shadow), n*tableSize); err != nil {
		return nil, err
	}
	if s.g, err = guest.in(gm); err != nil {
		return nil, err
	}
	s.noNotify = get16(s.g.used, 0)&UsedNoNotify != 0 // as a relay before this one left it
	for _, head := range at.InFlight {
		if err := s.copyChain(head); err != nil {
			// The guest changed a chain the device held (a well-behaved
			// driver never does): it gets it back, and the queue goes on.
			s.GivenBack = append(s.GivenBack, fmt.Errorf("the chain at %d: %w", head, err))
			s.giveBack(head)
			continue
		}
		s.offer(head)
	}
	if len(s.GivenBack) > 0 {
		put16(s.g.used, 2, s.nextUsed)
	}
	s.publish()
	return s, nil
}

// giveBack writes head's used entry on the guest's used ring, with
// nothing written (its index is written after).
func (s *Shadow) giveBack(head uint16) {
	at := ringHead + usedElem*uint64(s.nextUsed%s.guest.Num)
	e := s.g.used[at:][:usedElem]
	binary.LittleEndian.PutUint32(e, uint32(head))
	binary.LittleEndian.PutUint32(e[4:], 0)
	if s.Wrote != nil {
		s.Wrote(s.guest.Device+at, usedElem)
	}
	s.nextUsed++
}

// GiveBack gives every chain the device holds with a device-readable
// buffer back to the guest, as used with nothing written, and returns
// how many: the device, reset, did not carry them out (a frame to send is
// lost as on a wire; a receive chain the device never completes comes
// back empty, which a driver drops as a short frame and refills). Chains
// with device-writable buffers only stay in flight, and Ferry's own is
// forgotten. Call it once the device is reset and Used has relayed what
// it used before.
func (s *Shadow) GiveBack() int {
	n := 0
	for h := s.first; h >= 0; {
		next := s.next[h]
		if s.readable[h] {
			s.release(uint16(h))
			s.giveBack(uint16(h))
			n++
		}
		h = next
	}
	if s.own >= 0 {
		s.busy[s.own], s.own = false, -1
	}
	if n > 0 {
		put16(s.g.used, 2, s.nextUsed)
		if s.Wrote != nil {
			s.Wrote(s.guest.Device+2, 2)
		}
	}
	return n
}

// OldestRequest is the chain the device has held longest of those with
// a device-readable buffer (a request it has yet to carry out), and when
// it was made available (Now; 0 without a clock).
func (s *Shadow) OldestRequest() (head uint16, since int64, ok bool) {
	for h := s.first; h >= 0; h = s.next[h] {
		if s.readable[h] {
			return uint16(h), s.since[h], true
		}
	}
	return 0, 0, false
}

// NoNotify tells the guest not to kick, or to kick again: UsedNoNotify in
// its used ring, or with EventIdx its avail_event, which the guest reads
// before it kicks (the device never sees either). Ferry says so while the
// device holds a chain of the queue: that chain's used entry interrupts
// the guest, and the relay then takes the guest's new chains without a
// kick. It is called after every relay of the queue (avail_event follows
// the guest's available index).
func (s *Shadow) NoNotify(on bool) {
	if s.EventIdx {
		// Kick at the next chain; or at one the relay has taken, which
		// the guest never adds -- but for chains the relay took while the
		// guest was adding them, when it kicks once more than it needs.
		v := s.lastAvail
		if on {
			v--
		}
		s.noNotify = on
		if s.availEventOK && v == s.availEvent {
			return
		}
		at := availEventAt(s.guest.Num)
		put16(s.g.used, at, v)
		s.availEvent, s.availEventOK = v, true
		if s.Wrote != nil {
			s.Wrote(s.guest.Device+at, 2)
		}
		return
	}
	if on == s.noNotify {
		return
	}
	v := uint16(0)
	if on {
		v = UsedNoNotify
	}
	put16(s.g.used, 0, v)
	s.noNotify = on
	if s.Wrote != nil {
		s.Wrote(s.guest.Device, 2)
	}
}

// Unkicked reports whether the guest may have made chains available
// that no kick will bring: it was told not to kick (NoNotify), or its
// last kick's chain waited for Ferry's own (ErrWait). The relay then
// calls Avail at the guest's interrupt handling too.
func (s *Shadow) Unkicked() bool { return s.noNotify || s.waited }

// Position is where the queue stands now.
func (s *Shadow) Position() Position {
	p := Position{Avail: s.lastAvail, Used: s.nextUsed}
	for h := s.first; h >= 0; h = s.next[h] {
		p.InFlight = append(p.InFlight, uint16(h))
	}
	return p
}

// Holding reports how many chains the device holds, and whether one of
// them (Ferry's own included) has a device-readable buffer: a request the
// device has yet to carry out, where a receive buffer may wait.
func (s *Shadow) Holding() (chains int, readable bool) {
	chains, readable = s.held, s.heldReadable > 0 || s.own >= 0
	if s.own >= 0 {
		chains++
	}
	return chains, readable
}

// Ring is the shadow ring the device is to be programmed with.
func (s *Shadow) Ring() Ring { return s.shadow }

// Avail copies the chains the guest made available since the last call
// onto the shadow ring, and returns how many. The guest's kick (a
// QueueNotify write) is the time to call it; the device is notified
// after. What was copied before an error is on the shadow ring.
func (s *Shadow) Avail() (int, error) {
	idx := get16(s.g.avail, 2)
	if pending := idx - s.lastAvail; pending > s.guest.Num {
		return 0, fmt.Errorf("%w: the guest's avail index %d is %d ahead of %d, the queue holds %d", ErrIndex, idx, pending, s.lastAvail, s.guest.Num)
	}
	n := 0
	if s.Now != nil && s.lastAvail != idx {
		s.now = s.Now()
	}
	for ; s.lastAvail != idx; s.lastAvail++ {
		head := get16(s.g.avail, ringHead+2*uint64(s.lastAvail%s.guest.Num))
		if err := s.copyChain(head); err != nil {
			s.waited = errors.Is(err, ErrWait)
			if n > 0 {
				s.publish()
			}
			return n, err
		}
		s.offer(head)
		n++
	}
	s.waited = false
	if n > 0 {
		s.publish()
	}
	return n, nil
}

// offer puts head on the shadow's available ring (published by publish).
func (s *Shadow) offer(head uint16) {
	put16(s.sh.avail, ringHead+2*uint64(s.shAvail%s.shadow.Num), head)
	s.shAvail++
}

// publish writes the shadow's available index: the device may take what
// was offered. The entries are written before the index (a DMB): a
// device never reads an entry before it is there.
func (s *Shadow) publish() {
	s.fence()
	put16(s.sh.avail, 2, s.shAvail)
}

// fence is Fence, if set.
func (s *Shadow) fence() {
	if s.Fence != nil {
		s.Fence()
	}
}

// Inject makes a chain of Ferry's own available on the shadow ring: one
// device-readable buffer of size bytes at addr in Ferry's memory (a frame
// Ferry sends in the guest's name, such as its announcement after a
// migration). It takes a descriptor the device does not hold; its used
// entry is Ferry's and never reaches the guest. One at a time: while the
// device holds it, and when the guest makes the same descriptor available
// meanwhile (it is free in the guest's eyes), Avail stops with ErrWait
// until Used has seen it back.
func (s *Shadow) Inject(addr uint64, size uint32) error {
	if s.own >= 0 {
		return fmt.Errorf("%w: Ferry's chain at %d is still with the device", ErrWait, s.own)
	}
	i := len(s.busy) - 1
	for i >= 0 && s.busy[i] {
		i--
	}
	if i < 0 {
		return fmt.Errorf("%w: the device holds every descriptor", ErrWait)
	}
	desc{addr: addr, len: size}.put(s.sh.desc[descSize*i:])
	s.offer(uint16(i))
	s.busy[i], s.own = true, i
	s.publish()
	return nil
}

// desc is one descriptor.
type desc struct {
	addr  uint64
	len   uint32
	flags uint16
	next  uint16
}

func parseDesc(b []byte) desc {
	return desc{binary.LittleEndian.Uint64(b), binary.LittleEndian.Uint32(b[8:]), binary.LittleEndian.Uint16(b[12:]), binary.LittleEndian.Uint16(b[14:])}
}

// put writes d into b, descSize bytes.
func (d desc) put(b []byte) {
	binary.LittleEndian.PutUint64(b, d.addr)
	binary.LittleEndian.PutUint32(b[8:], d.len)
	binary.LittleEndian.PutUint16(b[12:], d.flags)
	binary.LittleEndian.PutUint16(b[14:], d.next)
}

// copyChain copies the chain at head into the shadow's table at the same
// indices (a head's used entry then names the guest's head), an indirect
// table into the head's own table area, checking every buffer; and
// records it in flight, last in the order. Each descriptor is copied
// first and checked in the copy, which the device reads: the guest cannot
// change it after the check. The shadow's table is then the chain's
// record (mark, wrote): Ferry wrote it, and the device only reads it.
func (s *Shadow) copyChain(head uint16) error {
	if head >= s.guest.Num {
		return fmt.Errorf("%w: head %d of a queue of %d", ErrChain, head, s.guest.Num)
	}
	readable := false
	i := head
	for count := uint16(0); ; count++ {
		if count == s.guest.Num {
			return fmt.Errorf("%w: the chain at %d loops", ErrChain, head)
		}
		if s.busy[i] && int(i) == s.own {
			return fmt.Errorf("%w: the guest's chain at %d takes descriptor %d", ErrWait, head, i)
		}
		if s.busy[i] {
			return fmt.Errorf("%w: descriptor %d made available again before the device used it", ErrChain, i)
		}
		at := descSize * uint64(i)
		sd := (*[descSize]byte)(s.sh.desc[at:])
		*sd = *(*[descSize]byte)(s.g.desc[at:])
		d := parseDesc(sd[:])
		if d.flags&DescIndirect != 0 {
			if d.flags&DescNext != 0 || i != head {
				return fmt.Errorf("%w: an indirect descriptor inside a chain (at %d)", ErrChain, i)
			}
			table, rd, err := s.copyIndirect(head, d)
			if err != nil {
				return err
			}
			binary.LittleEndian.PutUint64(sd[:], table)
			readable = readable || rd
		} else if err := s.check(d); err != nil {
			return err
		} else if d.flags&DescWrite == 0 {
			readable = true
		}
		if d.flags&DescNext == 0 {
			break
		}
		if d.next >= s.guest.Num {
			return fmt.Errorf("%w: next %d of a queue of %d", ErrChain, d.next, s.guest.Num)
		}
		i = d.next
	}
	s.mark(head, true)
	s.readable[head], s.inFlight[head], s.since[head] = readable, true, s.now
	s.held++
	if readable {
		s.heldReadable++
	}
	h := int32(head)
	s.next[h], s.prev[h] = -1, s.last
	if s.last >= 0 {
		s.next[s.last] = h
	} else {
		s.first = h
	}
	s.last = h
	return nil
}

// mark sets the busy state of the descriptors of the chain at head, as
// the shadow's table links them.
func (s *Shadow) mark(head uint16, busy bool) {
	i := head
	for range s.guest.Num {
		s.busy[i] = busy
		d := s.sh.desc[descSize*uint64(i):]
		if get16(d, 12)&DescNext == 0 {
			return
		}
		if i = get16(d, 14); i >= s.guest.Num {
			return
		}
	}
}

// wrote tells Wrote what the device wrote into the chain at head: its
// device-writable buffers in order, n bytes in all (a used entry's
// length), as the shadow's tables hold them.
func (s *Shadow) wrote(head uint16, n uint64) {
	d := parseDesc(s.sh.desc[descSize*uint64(head):])
	table, num := s.sh.desc, uint64(s.guest.Num)
	if d.flags&DescIndirect != 0 {
		table, num = s.tables[uint64(head)*tableSize:][:tableSize], min(uint64(d.len)/descSize, maxTable)
		d = parseDesc(table)
	}
	for range num {
		if n == 0 {
			return
		}
		if d.flags&DescWrite != 0 {
			k := min(uint64(d.len), n)
			s.Wrote(d.addr, k)
			n -= k
		}
		if d.flags&DescNext == 0 || uint64(d.next) >= num {
			return
		}
		d = parseDesc(table[descSize*uint64(d.next):])
	}
}

// release forgets the chain at head: the device used it.
func (s *Shadow) release(head uint16) {
	s.mark(head, false)
	s.inFlight[head] = false
	s.held--
	if s.readable[head] {
		s.heldReadable--
	}
	h := int32(head)
	if p := s.prev[h]; p >= 0 {
		s.next[p] = s.next[h]
	} else {
		s.first = s.next[h]
	}
	if n := s.next[h]; n >= 0 {
		s.prev[n] = s.prev[h]
	} else {
		s.last = s.prev[h]
	}
}

// copyIndirect copies an indirect table into head's table area and
// returns its shadow address and whether it has a device-readable
// buffer.
func (s *Shadow) copyIndirect(head uint16, d desc) (uint64, bool, error) {
	if d.len == 0 || d.len%descSize != 0 || d.len > tableSize {
		return 0, false, fmt.Errorf("%w: an indirect table of %d bytes (at most %d descriptors)", ErrChain, d.len, maxTable)
	}
	if !s.InRAM(d.addr, uint64(d.len)) {
		return 0, false, fmt.Errorf("%w: indirect table [%#x+%#x]", ErrRange, d.addr, d.len)
	}
	src, err := s.gm.Slice(d.addr, int(d.len))
	if err != nil {
		return 0, false, err
	}
	// Copied first, then checked: the device reads the copy.
	raw := s.tables[uint64(head)*tableSize:][:d.len]
	copy(raw, src)
	readable := false
	n := uint16(d.len / descSize)
	seen := s.seen[:n]
	clear(seen)
	for i := uint16(0); ; {
		if seen[i] {
			return 0, false, fmt.Errorf("%w: the indirect table at %d loops", ErrChain, head)
		}
		seen[i] = true
		x := parseDesc(raw[descSize*uint64(i):])
		if x.flags&DescIndirect != 0 {
			return 0, false, fmt.Errorf("%w: an indirect descriptor in an indirect table", ErrChain)
		}
		if err := s.check(x); err != nil {
			return 0, false, err
		}
		if x.flags&DescWrite == 0 {
			readable = true
		}
		if x.flags&DescNext == 0 {
			break
		}
		if x.next >= n {
			return 0, false, fmt.Errorf("%w: next %d in an indirect table of %d", ErrChain, x.next, n)
		}
		i = x.next
	}
	return indirectBase(s.shadow) + uint64(head)*tableSize, readable, nil
}

// check refuses a buffer outside guest RAM.
func (s *Shadow) check(d desc) error {
	if d.len == 0 || !s.InRAM(d.addr, uint64(d.len)) {
		return fmt.Errorf("%w: [%#x+%#x]", ErrRange, d.addr, d.len)
	}
	return nil
}

// Arm sets the shadow's used_event (EventIdx) from the guest's own: the
// device interrupts at the used entry the guest asked for (for its
// transmit queue, say, when three quarters of what is in flight are
// used) if that is one of the chains the device holds, and else at the
// next. The device must interrupt before it has used every chain it
// holds, or the guest, told not to kick, would wait for ever; and an
// event the guest's used index has passed means the guest polls its ring,
// which only the relay fills. Arm reports whether the device used an
// entry the relay has not seen, and so may have read the old event and
// not interrupted: Used and Arm must then run again.
func (s *Shadow) Arm() bool {
	if !s.EventIdx {
		return false
	}
	g := get16(s.g.avail, usedEventAt(s.guest.Num))
	held, _ := s.Holding()
	v := s.shUsed
	if d := g - s.nextUsed; int(d) < held {
		v += d
	}
	if s.usedEventOK && v == s.usedEvent {
		return false
	}
	put16(s.sh.avail, usedEventAt(s.shadow.Num), v)
	s.usedEvent, s.usedEventOK = v, true
	s.fence()
	return get16(s.sh.used, 2) != s.shUsed
}

// Used copies the device's new used entries from the shadow ring onto the
// guest's used ring, and returns how many. The guest's interrupt handler
// (its InterruptStatus read, its InterruptACK write) is the time to call
// it, since the device interrupts the guest directly; a kick is another.
func (s *Shadow) Used() (int, error) {
	idx := get16(s.sh.used, 2)
	if idx == s.shUsed {
		return 0, nil
	}
	if pending := idx - s.shUsed; pending > s.shadow.Num {
		return 0, fmt.Errorf("%w: the device's used index %d is %d ahead of %d", ErrIndex, idx, pending, s.shUsed)
	}
	s.fence() // the entries are read after the index that says they are there
	from := s.nextUsed
	n := 0
	for ; s.shUsed != idx; s.shUsed++ {
		e := (*[usedElem]byte)(s.sh.used[ringHead+usedElem*uint64(s.shUsed%s.shadow.Num):])
		id := binary.LittleEndian.Uint32(e[:])
		if int64(id) == int64(s.own) {
			s.busy[id], s.own = false, -1
			continue // Ferry's own chain: its used entry is not the guest's
		}
		if id >= uint32(s.guest.Num) || !s.inFlight[id] {
			s.usedWrote(from)
			return n, fmt.Errorf("%w: the device used head %d, which is not in flight", ErrChain, id)
		}
		if s.Wrote != nil {
			// What the device says it wrote (len: the bytes written into
			// the chain's device-writable buffers, in order), not the
			// buffers' sizes, which are the guest's to choose.
			s.wrote(uint16(id), uint64(binary.LittleEndian.Uint32(e[4:])))
		}
		s.release(uint16(id))
		*(*[usedElem]byte)(s.g.used[ringHead+usedElem*uint64(s.nextUsed%s.guest.Num):]) = *e
		s.nextUsed++
		n++
	}
	s.usedWrote(from)
	if n > 0 {
		put16(s.g.used, 2, s.nextUsed)
		if s.Wrote != nil {
			s.Wrote(s.guest.Device+2, 2)
		}
	}
	return n, nil
}

// usedWrote tells Wrote of the guest's used entries written since from:
// one range, or two where the ring wraps.
func (s *Shadow) usedWrote(from uint16) {
	if s.Wrote == nil || from == s.nextUsed {
		return
	}
	k, first := uint64(s.nextUsed-from), uint64(from%s.guest.Num)
	n1 := min(k, uint64(s.guest.Num)-first)
	s.Wrote(s.guest.Device+ringHead+usedElem*first, usedElem*n1)
	if k > n1 {
		s.Wrote(s.guest.Device+ringHead, usedElem*(k-n1))
	}
}
