// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

import (
	"encoding/binary"
	"fmt"
)

// MaxRing is the most descriptors a ring holds (the ring length
// registers' 10 bits, plus one).
const MaxRing = RingLenMask + 1

// ShadowSize is the Ferry memory the relay's two shadow rings take: a
// ring of MaxRing descriptors each way, whatever the guest's rings' size,
// so that nothing the guest does makes it ask for more.
const ShadowSize = 2 * MaxRing * DescSize

// direction is a ring's: the device reads (transmit) or writes (receive)
// its buffers.
type direction int

const (
	dirTx direction = iota
	dirRx
)

func (d direction) String() string {
	if d == dirTx {
		return "transmit"
	}
	return "receive"
}

// ring relays one of channel 0's descriptor rings between the guest's
// ring, in guest RAM, and its shadow, in Ferry's memory, index for index:
// the device is given the shadow, the descriptors the guest makes the
// device's are copied onto it (checked) and the device's write-backs
// copied back. Slot k of the shadow is the device's (busy) from the copy
// of the guest's descriptor k until the relay has seen the device give it
// back (OWN clear) and copied its write-back: busy slots are always the
// run [done, head) of the ring, in the order the device takes them.
type ring struct {
	dir   direction
	valid bool // the ring was set up (a start took it)
	// running: the guest started it (ST or SR) and the relay let it.
	running bool
	// stopped: a descriptor was refused; nothing more of the ring is
	// copied until the guest starts it afresh.
	stopped bool

	gbase  uint64 // the guest's ring
	n      int    // its descriptors
	sbase  uint64 // the shadow ring's base
	g, s   []byte // both rings, in place
	given  []desc // by slot: what the relay wrote there
	bufs   [][2]buffer
	busy   []bool
	head   int // the guest's next descriptor to copy
	done   int // the oldest busy slot
	held   int // busy slots
	chk    checker
	sph    bool   // split header (receive): buffers marked whole
	cum    uint64 // receive: bytes of the frame so far, in its earlier descriptors
	copied uint64 // descriptors copied, for tests and logs
}

// tailIndex is the descriptor index a tail pointer (the low 32 bits of
// an address) names in the guest's ring: 0 to n (n: just past its end,
// as Linux's receive ring starts), ok false if it names none.
func (r *ring) tailIndex(tail uint32) (int, bool) {
	off := tail - uint32(r.gbase)
	if off%DescSize != 0 || uint64(off) > uint64(r.n)*DescSize {
		return 0, false
	}
	return int(off / DescSize), true
}

// fill copies the guest's descriptors from head onto the shadow, up to
// the one at tail (n: no stop there), stopping early at one the guest
// does not give the device (OWN clear) or a slot the device still holds.
// A descriptor refused stops the ring (the error). It returns how many
// were copied.
func (r *ring) fill(rl *Relaying, tail int) (int, error) {
	if r.stopped {
		return 0, nil
	}
	copied := 0
	for count := 0; count < r.n; count++ {
		k := r.head
		if (tail < r.n && k == tail) || r.busy[k] {
			break
		}
		at := uint64(k) * DescSize
		rl.syncRead(r.gbase+at, DescSize)
		d := getDesc(r.g[at:])
		if d[3]&TDES3OWN == 0 { // RDES3.OWN is the same bit
			break
		}
		var s desc
		var err error
		if r.dir == dirTx {
			s, err = r.chk.tx(d)
		} else {
			s, r.bufs[k], err = r.chk.rx(d)
		}
		if err != nil {
			r.stopped = true
			return copied, fmt.Errorf("%s descriptor %d at %#x: %w", r.dir, k, r.gbase+at, err)
		}
		// Every word but the one with OWN, then OWN after a barrier: a
		// device that reads the slot sees a whole descriptor or none.
		b := r.s[at:][:DescSize]
		binary.LittleEndian.PutUint32(b, s[0])
		binary.LittleEndian.PutUint32(b[4:], s[1])
		binary.LittleEndian.PutUint32(b[8:], s[2])
		rl.fence()
		binary.LittleEndian.PutUint32(b[12:], s[3])
		r.given[k], r.busy[k] = s, true
		r.held++
		r.head = (k + 1) % r.n
		copied++
		r.copied++
	}
	return copied, nil
}

// reap copies back the descriptors the device gave back, oldest first,
// and returns how many: what the device wrote into each, onto the
// guest's descriptor; the guest memory written (the descriptor, and
// what a receive descriptor's buffers took) told to Wrote.
func (r *ring) reap(rl *Relaying) int {
	n := 0
	for r.held > 0 {
		k := r.done
		at := uint64(k) * DescSize
		b := r.s[at:][:DescSize]
		w3 := binary.LittleEndian.Uint32(b[12:])
		if w3&TDES3OWN != 0 {
			break
		}
		rl.fence() // the other words are read after OWN
		s := getDesc(b)
		g := r.g[at:][:DescSize]
		for i, w := range s {
			// A receive descriptor is written back whole; a transmit
			// one in the words the device changed (TDES3 always), the
			// rest left as the guest wrote them, as the device would.
			if r.dir == dirRx || i == 3 || w != r.given[k][i] {
				binary.LittleEndian.PutUint32(g[4*i:], w)
			}
		}
		rl.syncWrote(r.gbase+at, DescSize)
		if r.dir == dirRx {
			r.received(rl, k, s[3])
		}
		r.busy[k] = false
		r.held--
		r.done = (k + 1) % r.n
		n++
	}
	return n
}

// received tells Wrote what the device wrote into the buffers of receive
// slot k, whose write-back RDES3 is w3: the frame's bytes, filling buffer
// 1 then buffer 2, as the packet length of its last descriptor says (the
// whole frame's), less what its earlier descriptors took. Where that
// cannot be told -- a context descriptor writes no buffer; split headers,
// an error, a length that does not add up -- the buffers are marked whole.
func (r *ring) received(rl *Relaying, k int, w3 uint32) {
	if w3&RDES3CTXT != 0 || rl.Wrote == nil {
		return
	}
	bufs := r.bufs[k]
	capacity := bufs[0].size + bufs[1].size
	if w3&RDES3FD != 0 {
		r.cum = 0
	}
	n := capacity
	if w3&RDES3LD == 0 {
		r.cum += capacity
	} else {
		pl := uint64(w3 & RDES3PLMask)
		if !r.sph && w3&RDES3ES == 0 && pl >= r.cum && pl-r.cum <= capacity {
			n = pl - r.cum
		}
		r.cum = 0
	}
	if r.sph {
		n = capacity
	}
	for _, b := range bufs {
		if n == 0 {
			break
		}
		if b.size == 0 {
			continue
		}
		k := min(n, b.size)
		rl.Wrote(b.addr, k)
		n -= k
	}
}

// reset forgets the ring's slots: nothing of it is the device's.
func (r *ring) reset() {
	clear(r.busy)
	r.head, r.done, r.held, r.cum = 0, 0, 0, 0
	r.stopped = false
}
