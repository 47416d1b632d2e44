// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtq

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"testing"
)

func (d desc) bytes() []byte {
	b := make([]byte, descSize)
	d.put(b)
	return b
}

// flat is memory at base: the guest's RAM or Ferry's shadow area.
type flat = Region

// Read copies the bytes at addr into p.
func (m *Region) Read(addr uint64, p []byte) error {
	b, err := m.span(addr, len(p))
	copy(p, b)
	return err
}

// Write copies p to addr.
func (m *Region) Write(addr uint64, p []byte) error {
	b, err := m.span(addr, len(p))
	copy(b, p)
	return err
}

const (
	ramBase  = 0x4800_0000
	ramSize  = 1 << 20
	num      = 8
	carveOut = 0x4020_0000 // Ferry's: not guest RAM
)

// rig is a guest driver and a device around one shadowed queue.
type rig struct {
	t      *testing.T
	gm, sm *flat
	g      Ring
	s      *Shadow
	avail  uint16 // the guest's avail index
}

func newRig(t *testing.T, at uint16) *rig {
	t.Helper()
	r := &rig{t: t, gm: &flat{Base: ramBase, B: make([]byte, ramSize)}, g: Ring{Num: num, Desc: ramBase + 0x1000, Driver: ramBase + 0x2000, Device: ramBase + 0x3000}}
	r.sm = &flat{Base: 0x4300_0000, B: make([]byte, ShadowSize(num))}
	inRAM := func(a, n uint64) bool { return a >= ramBase && a+n <= ramBase+ramSize && a+n >= a }
	// The guest's rings are at `at`: both indices there, as the source left them.
	r.avail = at
	r.put16(r.g.Driver+2, at)
	r.put16(r.g.Device+2, at)
	s, err := NewShadow(r.g, r.gm, r.sm.Base, r.sm, Position{Avail: at, Used: at}, inRAM)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	return r
}

func (r *rig) put16(addr uint64, v uint16) {
	var b [2]byte
	binary.LittleEndian.PutUint16(b[:], v)
	if err := r.gm.Write(addr, b[:]); err != nil {
		r.t.Fatal(err)
	}
}

func (r *rig) setDesc(m *flat, table uint64, i uint16, d desc) {
	if err := m.Write(table+descSize*uint64(i), d.bytes()); err != nil {
		r.t.Fatal(err)
	}
}

// post makes head available, as the guest's driver does.
func (r *rig) post(head uint16) {
	r.put16(r.g.Driver+ringHead+2*uint64(r.avail%num), head)
	r.avail++
	r.put16(r.g.Driver+2, r.avail)
}

// device takes what the shadow made available and uses it in order, as
// the device does, returning the heads and descriptors it saw.
func (r *rig) device(from uint16) (heads []uint16, chains [][]desc) {
	sh := r.s.Ring()
	var b [2]byte
	r.sm.Read(sh.Driver+2, b[:])
	idx := binary.LittleEndian.Uint16(b[:])
	used := uint16(0)
	r.sm.Read(sh.Device+2, b[:])
	used = binary.LittleEndian.Uint16(b[:])
	for i := from; i != idx; i++ {
		r.sm.Read(sh.Driver+ringHead+2*uint64(i%num), b[:])
		head := binary.LittleEndian.Uint16(b[:])
		heads = append(heads, head)
		var chain []desc
		for j := head; ; {
			var d [descSize]byte
			r.sm.Read(sh.Desc+descSize*uint64(j), d[:])
			x := parseDesc(d[:])
			chain = append(chain, x)
			if x.flags&DescNext == 0 {
				break
			}
			j = x.next
		}
		chains = append(chains, chain)
		var e [usedElem]byte
		binary.LittleEndian.PutUint32(e[:], uint32(head))
		binary.LittleEndian.PutUint32(e[4:], 100+uint32(head))
		r.sm.Write(sh.Device+ringHead+usedElem*uint64(used%num), e[:])
		used++
	}
	binary.LittleEndian.PutUint16(b[:], used)
	r.sm.Write(sh.Device+2, b[:])
	return heads, chains
}

func buf(i uint64) uint64 { return ramBase + 0x10000 + i*0x1000 }

// After a migration the guest's rings are at N (here across the 16-bit
// wrap); the fresh device runs on the shadow from 0, and every chain and
// used entry crosses at the right positions.
func TestShadowRelays(t *testing.T) {
	for _, at := range []uint16{0, 1000, 65534} {
		r := newRig(t, at)
		// A two-descriptor chain (header + data, device-readable), a
		// device-writable buffer, and an indirect table of two.
		r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 12, DescNext, 1})
		r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), 1500, 0, 0})
		r.setDesc(r.gm, r.g.Desc, 2, desc{buf(2), 1526, DescWrite, 0})
		table := uint64(ramBase + 0x8000)
		r.setDesc(r.gm, table, 0, desc{buf(3), 12, DescNext, 1})
		r.setDesc(r.gm, table, 1, desc{buf(4), 64, 0, 0})
		r.setDesc(r.gm, r.g.Desc, 5, desc{table, 2 * descSize, DescIndirect, 0})
		for _, h := range []uint16{0, 2, 5} {
			r.post(h)
		}
		if n, err := r.s.Avail(); n != 3 || err != nil {
			t.Fatalf("at %d: Avail = %d, %v", at, n, err)
		}
		// The guest rewrites a descriptor after the copy: the device
		// still sees what was checked.
		r.setDesc(r.gm, r.g.Desc, 1, desc{carveOut, 4096, 0, 0})
		heads, chains := r.device(0)
		if fmt.Sprint(heads) != "[0 2 5]" || len(chains[0]) != 2 || chains[0][1].addr != buf(1) || chains[1][0].flags != DescWrite {
			t.Fatalf("at %d: device saw %v %+v", at, heads, chains)
		}
		ind := chains[2][0]
		if ind.flags != DescIndirect || ind.addr == table || ind.addr < r.sm.Base || ind.addr >= r.sm.Base+uint64(len(r.sm.B)) {
			t.Fatalf("at %d: the indirect table is not Ferry's copy: %+v", at, ind)
		}
		var copied [descSize]byte
		r.sm.Read(ind.addr+descSize, copied[:])
		if parseDesc(copied[:]).addr != buf(4) {
			t.Fatalf("at %d: indirect copy %+v", at, parseDesc(copied[:]))
		}
		if n, err := r.s.Used(); n != 3 || err != nil {
			t.Fatalf("at %d: Used = %d, %v", at, n, err)
		}
		var b [8]byte
		r.gm.Read(r.g.Device+2, b[:2])
		if got := binary.LittleEndian.Uint16(b[:]); got != at+3 {
			t.Fatalf("at %d: the guest's used index %d, want %d", at, got, at+3)
		}
		for k, h := range []uint16{0, 2, 5} {
			r.gm.Read(r.g.Device+ringHead+usedElem*uint64((at+uint16(k))%num), b[:])
			if id, l := binary.LittleEndian.Uint32(b[:]), binary.LittleEndian.Uint32(b[4:]); id != uint32(h) || l != 100+uint32(h) {
				t.Fatalf("at %d: used entry %d = %d/%d", at, k, id, l)
			}
		}
		// Nothing new: nothing moves.
		if n, err := r.s.Avail(); n != 0 || err != nil {
			t.Fatalf("at %d: second Avail = %d, %v", at, n, err)
		}
		if n, err := r.s.Used(); n != 0 || err != nil {
			t.Fatalf("at %d: second Used = %d, %v", at, n, err)
		}
	}
}

// A hostile or buggy guest driver: each chain is refused with its reason
// before the device sees it.
func TestShadowRefuses(t *testing.T) {
	for name, tc := range map[string]struct {
		set  func(r *rig)
		head uint16
		want error
	}{
		"into Ferry's memory": {func(r *rig) { r.setDesc(r.gm, r.g.Desc, 0, desc{carveOut, 4096, 0, 0}) }, 0, ErrRange},
		"past guest RAM":      {func(r *rig) { r.setDesc(r.gm, r.g.Desc, 0, desc{ramBase + ramSize - 8, 16, 0, 0}) }, 0, ErrRange},
		"wrapping":            {func(r *rig) { r.setDesc(r.gm, r.g.Desc, 0, desc{^uint64(0) - 4, 16, 0, 0}) }, 0, ErrRange},
		"empty buffer":        {func(r *rig) { r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 0, 0, 0}) }, 0, ErrRange},
		"head out of range":   {func(r *rig) {}, num, ErrChain},
		"next out of range":   {func(r *rig) { r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 8, DescNext, num}) }, 0, ErrChain},
		"loop": {func(r *rig) {
			r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 8, DescNext, 1})
			r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), 8, DescNext, 0})
		}, 0, ErrChain},
		"indirect in a chain": {func(r *rig) {
			r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 8, DescNext, 1})
			r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), descSize, DescIndirect, 0})
		}, 0, ErrChain},
		"indirect table outside RAM": {func(r *rig) { r.setDesc(r.gm, r.g.Desc, 0, desc{carveOut, descSize, DescIndirect, 0}) }, 0, ErrRange},
		"indirect too large": {func(r *rig) {
			r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), (maxTable + 1) * descSize, DescIndirect, 0})
		}, 0, ErrChain},
		"indirect pointing out": {func(r *rig) {
			r.setDesc(r.gm, buf(5), 0, desc{carveOut, 64, 0, 0})
			r.setDesc(r.gm, r.g.Desc, 0, desc{buf(5), descSize, DescIndirect, 0})
		}, 0, ErrRange},
		"indirect loop": {func(r *rig) {
			r.setDesc(r.gm, buf(5), 0, desc{buf(0), 8, DescNext, 1})
			r.setDesc(r.gm, buf(5), 1, desc{buf(1), 8, DescNext, 0})
			r.setDesc(r.gm, r.g.Desc, 0, desc{buf(5), 2 * descSize, DescIndirect, 0})
		}, 0, ErrChain},
	} {
		t.Run(name, func(t *testing.T) {
			r := newRig(t, 40)
			tc.set(r)
			r.post(tc.head)
			if _, err := r.s.Avail(); !errors.Is(err, tc.want) {
				t.Fatalf("Avail: %v, want %v", err, tc.want)
			}
			if heads, _ := r.device(0); len(heads) != 0 {
				t.Fatalf("the device saw %v", heads)
			}
		})
	}
}

func TestShadowIndexChecks(t *testing.T) {
	r := newRig(t, 7)
	r.setDesc(r.gm, r.g.Desc, 3, desc{buf(0), 8, 0, 0})
	r.post(3)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	r.post(3) // again, before the device used it
	if _, err := r.s.Avail(); !errors.Is(err, ErrChain) {
		t.Errorf("a head made available twice: %v", err)
	}
	// A chain through a descriptor another chain the device holds uses.
	r = newRig(t, 7)
	r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 8, DescNext, 1})
	r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), 8, 0, 0})
	r.post(0)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	r.post(1)
	if _, err := r.s.Avail(); !errors.Is(err, ErrChain) {
		t.Errorf("a descriptor in two chains at once: %v", err)
	}
	// Once the device used the first, its descriptors are free again.
	r.device(0)
	if _, err := r.s.Used(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.s.Avail(); n != 1 || err != nil {
		t.Errorf("after the use: Avail = %d, %v", n, err)
	}
	// An avail index more than a queue ahead of the last copied.
	r = newRig(t, 7)
	r.put16(r.g.Driver+2, 7+num+1)
	if _, err := r.s.Avail(); !errors.Is(err, ErrIndex) {
		t.Errorf("avail index ahead: %v", err)
	}
	// A device that uses a head Ferry never gave it.
	r = newRig(t, 7)
	var e [usedElem]byte
	binary.LittleEndian.PutUint32(e[:], 4)
	sh := r.s.Ring()
	r.sm.Write(sh.Device+ringHead, e[:])
	r.sm.Write(sh.Device+2, []byte{1, 0})
	if _, err := r.s.Used(); !errors.Is(err, ErrChain) {
		t.Errorf("a used head not in flight: %v", err)
	}
}

// FuzzShadow runs the relay through any sequence of what a guest and a
// device do -- the guest writes descriptors, indirect tables, ring
// entries and indices as it likes and posts chains; Avail, the device
// using what it was offered (in any order, with any length), Used, Arm,
// NoNotify, Inject, GiveBack, and a restart at the queue's position on a
// fresh shadow (a migration). It never panics, never loops; the device is
// never offered a buffer outside guest RAM (nor an indirect table outside
// the shadow's); what is reported written lies in guest RAM and is
// bounded by the lengths the device gave; the position always holds as
// many chains as it says, and a restart from it always starts.
func FuzzShadow(f *testing.F) {
	f.Add([]byte{0, 0, 1, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 5, 0, 60, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{0, 1, 2, 0, 0, 0, 2, 0, 2, 1, 0, 0, 0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 9, 1, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0})
	// From entry 7 of 8: two receive chains used, their entries wrap.
	f.Add([]byte{7, 0, 0, 0, 0, 0, 0x40, 6, 2, 0, 0, 1, 1, 0, 0x40, 6, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2, 1, 0, 0, 0, 0, 0, 0,
		4, 0, 0, 0, 0, 0, 0, 0, 5, 0, 10, 0, 0, 0, 0, 0, 5, 0, 10, 0, 0, 0, 0, 0, 6, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		start := uint16(0)
		if len(ops) >= 2 {
			start, ops = binary.LittleEndian.Uint16(ops), ops[2:]
		}
		r := newRig(t, start)
		table := uint64(ramBase + 0x8000) // where the guest's indirect tables go
		addrs := []uint64{buf(0), buf(1), table, table + 4*descSize, ramBase + ramSize - 16, ramBase, carveOut, r.sm.Base, 0, ^uint64(0) - 8}
		var wrote, lens uint64
		var ranges [][2]uint64 // what Wrote was told, since the last Used
		clock := int64(0)
		shadowAvail := uint16(0) // the device's next entry of the shadow's available ring
		var taken []uint16       // heads the device took and has not used
		setup := func(s *Shadow) {
			s.Wrote = func(a, n uint64) {
				if a < ramBase || a+n > ramBase+ramSize || a+n < a {
					t.Fatalf("reported written [%#x+%d]: not guest RAM", a, n)
				}
				wrote += n
				ranges = append(ranges, [2]uint64{a, n})
			}
			s.Now = func() int64 { return clock }
		}
		setup(r.s)
		// device checks what the device may take from the shadow: every
		// buffer in guest RAM, every indirect table the shadow's.
		device := func() {
			sh := r.s.Ring()
			var b [2]byte
			r.sm.Read(sh.Driver+2, b[:])
			for ; shadowAvail != binary.LittleEndian.Uint16(b[:]); shadowAvail++ {
				var h [2]byte
				r.sm.Read(sh.Driver+ringHead+2*uint64(shadowAvail%num), h[:])
				head := binary.LittleEndian.Uint16(h[:])
				taken = append(taken, head)
				j := head
				for n := 0; ; n++ {
					if j >= num || n > num {
						t.Fatalf("the device was offered a chain from %d that runs off (at %d)", head, j)
					}
					var dd [descSize]byte
					r.sm.Read(sh.Desc+descSize*uint64(j), dd[:])
					d := parseDesc(dd[:])
					if d.flags&DescIndirect != 0 {
						if d.addr < r.sm.Base || d.addr+uint64(d.len) > r.sm.Base+uint64(len(r.sm.B)) {
							t.Fatalf("the device was offered an indirect table at [%#x+%d]", d.addr, d.len)
						}
						tb := make([]byte, d.len)
						r.sm.Read(d.addr, tb)
						for k := 0; k+descSize <= len(tb); k += descSize {
							x := parseDesc(tb[k:])
							if x.addr < ramBase || x.addr+uint64(x.len) > ramBase+ramSize {
								t.Fatalf("the device was offered %+v in an indirect table", x)
							}
						}
					} else if d.addr < ramBase || d.addr+uint64(d.len) > ramBase+ramSize {
						if int(j) != r.s.own {
							t.Fatalf("the device was offered %+v", d)
						}
					}
					if d.flags&DescNext == 0 {
						break
					}
					j = d.next
				}
			}
		}
		for len(ops) >= 8 {
			op, a, v, x := ops[0], ops[1], binary.LittleEndian.Uint32(ops[2:6]), binary.LittleEndian.Uint16(ops[6:8])
			ops = ops[8:]
			var err error
			switch op % 12 {
			case 0: // a descriptor in the guest's table
				r.setDesc(r.gm, r.g.Desc, uint16(a)%num, desc{addrs[v%uint32(len(addrs))], v >> 20, x & 7, x >> 8})
			case 1: // an entry of an indirect table
				r.setDesc(r.gm, table, uint16(a)%maxTable, desc{addrs[v%uint32(len(addrs))], v >> 20, x & 3, x >> 8})
			case 2:
				r.post(uint16(a) % num)
			case 3: // the guest's avail index, or a used_event
				if a&1 != 0 {
					r.put16(r.g.Driver+ringHead+2*num, x)
				} else {
					r.avail = x
					r.put16(r.g.Driver+2, x)
				}
			case 4:
				clock++
				_, err = r.s.Avail()
				if errors.Is(err, ErrWait) {
					err = nil
				}
				device()
			case 5: // the device uses a chain it took, with a length
				device()
				if len(taken) == 0 {
					break
				}
				k := int(a) % len(taken)
				head := taken[k]
				taken = append(taken[:k], taken[k+1:]...)
				sh := r.s.Ring()
				var b [2]byte
				r.sm.Read(sh.Device+2, b[:])
				used := binary.LittleEndian.Uint16(b[:])
				var e [usedElem]byte
				binary.LittleEndian.PutUint32(e[:], uint32(head))
				binary.LittleEndian.PutUint32(e[4:], v%4096)
				r.sm.Write(sh.Device+ringHead+usedElem*uint64(used%num), e[:])
				binary.LittleEndian.PutUint16(b[:], used+1)
				r.sm.Write(sh.Device+2, b[:])
				lens += uint64(v % 4096)
			case 6:
				wrote, ranges = 0, nil
				ring := r.g.Device - ramBase
				before := slices.Clone(r.gm.B[ring : ring+ringHead+usedElem*num+2])
				var n int
				n, err = r.s.Used()
				if limit := lens + usedElem*uint64(n) + 2 + 2; wrote > limit {
					t.Fatalf("%d bytes reported written for %d used entries of %d bytes in all", wrote, n, lens)
				}
				lens = 0
				// Every byte of the guest's used ring that changed was
				// reported, wrapped or not, even when Used stopped.
				for k, b := range r.gm.B[ring : ring+uint64(len(before))] {
					at := r.g.Device + uint64(k)
					if b != before[k] && !slices.ContainsFunc(ranges, func(w [2]uint64) bool { return at >= w[0] && at < w[0]+w[1] }) {
						t.Fatalf("the used ring's byte at %#x changed, not reported (reported %v)", at, ranges)
					}
				}
			case 7:
				r.s.Arm()
				r.s.NoNotify(a&1 != 0)
			case 8:
				r.s.Inject(buf(7), v%2000+1)
				device()
			case 9: // a migration: the device reset (what it held is lost
				// to it), perhaps the requests given back, a new relay at
				// the position on a fresh shadow
				if a&1 != 0 {
					r.s.GiveBack()
				}
				at := r.s.Position()
				r.sm = &flat{Base: r.sm.Base + 0x100000, B: make([]byte, ShadowSize(num))}
				s, err := NewShadow(r.g, r.gm, r.sm.Base, r.sm, at, inRAM)
				if err != nil {
					t.Fatalf("a restart at %+v: %v", at, err)
				}
				r.s, shadowAvail, taken, lens = s, 0, nil, 0
				setup(s)
				device()
			case 10, 11:
				r.s.OldestRequest()
			}
			if err != nil {
				return // the queue stops: nothing more of it reaches the device
			}
			p := r.s.Position()
			chains, _ := r.s.Holding()
			if own := r.s.own >= 0; int(p.Avail-p.Used) != len(p.InFlight) || len(p.InFlight)+b2i(own) != chains {
				t.Fatalf("position %+v, holding %d chains", p, chains)
			}
		}
	})
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// What the device wrote into guest RAM is reported when it is used: the
// device-writable buffers of the chain (an indirect table's included) up
// to the length the device says it wrote, and the guest's used ring,
// which Ferry writes; not what the device only read.
func TestShadowReportsWrites(t *testing.T) {
	r := newRig(t, 300)
	var wrote []string
	r.s.Wrote = func(a, n uint64) { wrote = append(wrote, fmt.Sprintf("%#x+%d", a, n)) }
	r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 12, DescNext, 1}) // TX: header and data, device-readable
	r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), 1500, 0, 0})
	table := uint64(ramBase + 0x8000) // RX through an indirect table: header, then data
	r.setDesc(r.gm, table, 0, desc{buf(3), 12, DescWrite | DescNext, 1})
	r.setDesc(r.gm, table, 1, desc{buf(4), 1514, DescWrite, 0})
	r.setDesc(r.gm, r.g.Desc, 2, desc{table, 2 * descSize, DescIndirect, 0})
	r.post(0)
	r.post(2)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	if len(wrote) != 0 {
		t.Fatalf("reported before the device used anything: %v", wrote)
	}
	r.device(0)
	if _, err := r.s.Used(); err != nil {
		t.Fatal(err)
	}
	used := r.g.Device + ringHead
	want := []string{
		fmt.Sprintf("%#x+12", buf(3)), fmt.Sprintf("%#x+90", buf(4)), // the RX buffers, up to the used length 102
		fmt.Sprintf("%#x+16", used+usedElem*(300%num)), // both used entries, in one range
		fmt.Sprintf("%#x+2", r.g.Device+2),             // the used index
	}
	if fmt.Sprint(wrote) != fmt.Sprint(want) {
		t.Errorf("reported %v\nwant %v", wrote, want)
	}
}

// use plays a device that uses the chains at heads, in that order (a
// device may use them out of the order they were made available).
func (r *rig) use(heads ...uint16) {
	sh := r.s.Ring()
	var b [2]byte
	r.sm.Read(sh.Device+2, b[:])
	used := binary.LittleEndian.Uint16(b[:])
	for _, h := range heads {
		var e [usedElem]byte
		binary.LittleEndian.PutUint32(e[:], uint32(h))
		r.sm.Write(sh.Device+ringHead+usedElem*uint64(used%num), e[:])
		used++
	}
	binary.LittleEndian.PutUint16(b[:], used)
	r.sm.Write(sh.Device+2, b[:])
}

// offered is the heads on the shadow's available ring from entry from.
func (r *rig) offered(from uint16) []uint16 {
	sh := r.s.Ring()
	var b [2]byte
	r.sm.Read(sh.Driver+2, b[:])
	var heads []uint16
	for i := from; i != binary.LittleEndian.Uint16(b[:]); i++ {
		var h [2]byte
		r.sm.Read(sh.Driver+ringHead+2*uint64(i%num), h[:])
		heads = append(heads, binary.LittleEndian.Uint16(h[:]))
	}
	return heads
}

// A device stopped with receive buffers in flight, one of them passed by
// a later one: a new relay at the same position (the destination's, on
// another shadow) hands the device exactly those again, and the guest's
// used ring carries on where it was.
func TestShadowRestart(t *testing.T) {
	r := newRig(t, 100)
	for h := uint16(0); h < 3; h++ {
		r.setDesc(r.gm, r.g.Desc, h, desc{buf(uint64(h)), 1526, DescWrite, 0})
		r.post(h)
	}
	r.setDesc(r.gm, r.g.Desc, 3, desc{buf(3), 60, 0, 0})
	r.post(3)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	if n, readable := r.s.Holding(); n != 4 || !readable {
		t.Fatalf("Holding = %d, %v with a transmit chain in flight", n, readable)
	}
	r.use(3, 1)
	if n, err := r.s.Used(); n != 2 || err != nil {
		t.Fatalf("Used = %d, %v", n, err)
	}
	if n, readable := r.s.Holding(); n != 2 || readable {
		t.Fatalf("Holding = %d, %v with two receive buffers left", n, readable)
	}
	at := r.s.Position()
	if fmt.Sprint(at) != "{104 102 [0 2]}" {
		t.Fatalf("Position = %v", at)
	}

	r.sm = &flat{Base: 0x4400_0000, B: make([]byte, ShadowSize(num))}
	inRAM := func(a, n uint64) bool { return a >= ramBase && a+n <= ramBase+ramSize && a+n >= a }
	s, err := NewShadow(r.g, r.gm, r.sm.Base, r.sm, at, inRAM)
	if err != nil {
		t.Fatal(err)
	}
	r.s = s
	if got := r.offered(0); fmt.Sprint(got) != "[0 2]" {
		t.Fatalf("the new device is offered %v", got)
	}
	r.use(2, 0)
	if n, err := r.s.Used(); n != 2 || err != nil {
		t.Fatalf("Used = %d, %v", n, err)
	}
	var b [8]byte
	r.gm.Read(r.g.Device+2, b[:2])
	if got := binary.LittleEndian.Uint16(b[:]); got != 104 {
		t.Fatalf("the guest's used index %d, want 104", got)
	}
	r.gm.Read(r.g.Device+ringHead+usedElem*(103%num), b[:])
	if binary.LittleEndian.Uint32(b[:]) != 0 {
		t.Fatalf("used entry 103 names %d, want head 0", binary.LittleEndian.Uint32(b[:]))
	}

	for name, bad := range map[string]Position{
		"count":         {Avail: 104, Used: 102, InFlight: []uint16{0}},
		"head twice":    {Avail: 104, Used: 102, InFlight: []uint16{0, 0}},
		"head too big":  {Avail: 103, Used: 102, InFlight: []uint16{num}},
		"more than fit": {Avail: 102 + num + 1, Used: 102, InFlight: make([]uint16, num+1)},
	} {
		if _, err := NewShadow(r.g, r.gm, r.sm.Base, r.sm, bad, inRAM); err == nil {
			t.Errorf("%s: %v accepted", name, bad)
		}
	}
}

// A guest that changes the chains the device holds before a restart (a
// well-behaved driver never does): one now points into Ferry's memory,
// two now share a descriptor. The new relay starts all the same: those
// chains are given back to the guest as used with nothing written, and
// reported; the device gets only the ones that still copy.
func TestShadowRestartGivesBackChangedChains(t *testing.T) {
	r := newRig(t, 100)
	for h := uint16(0); h < 4; h++ {
		r.setDesc(r.gm, r.g.Desc, h, desc{buf(uint64(h)), 1526, DescWrite, 0})
		r.post(h)
	}
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	at := r.s.Position()
	r.setDesc(r.gm, r.g.Desc, 0, desc{carveOut, 4096, DescWrite, 0})
	r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), 1526, DescWrite | DescNext, 2}) // 1 -> 2, and 2 is in flight too
	s, err := NewShadow(r.g, r.gm, r.sm.Base, r.sm, at, inRAM)
	if err != nil {
		t.Fatalf("NewShadow: %v", err)
	}
	if len(s.GivenBack) != 2 || !errors.Is(s.GivenBack[0], ErrRange) || !errors.Is(s.GivenBack[1], ErrChain) {
		t.Fatalf("given back: %v", s.GivenBack)
	}
	r.s = s
	if heads, _ := r.device(0); fmt.Sprint(heads) != "[1 3]" {
		t.Errorf("the device got %v", heads)
	}
	if got := r.usedEntries(100); fmt.Sprint(got) != "[0/0 2/0]" {
		t.Errorf("the guest's used ring %v", got)
	}
	if p := s.Position(); p.Avail != 104 || p.Used != 102 || fmt.Sprint(p.InFlight) != "[1 3]" {
		t.Errorf("Position %+v", p)
	}
}

// usedEntries is the guest's used ring from entry from: "head/len" each.
func (r *rig) usedEntries(from uint16) []string {
	var b [2]byte
	r.gm.Read(r.g.Device+2, b[:])
	var out []string
	for i := from; i != binary.LittleEndian.Uint16(b[:]); i++ {
		var e [usedElem]byte
		r.gm.Read(r.g.Device+ringHead+usedElem*uint64(i%num), e[:])
		out = append(out, fmt.Sprintf("%d/%d", binary.LittleEndian.Uint32(e[:]), binary.LittleEndian.Uint32(e[4:])))
	}
	return out
}

// inRAM is guest RAM of the rig.
func inRAM(a, n uint64) bool { return a >= ramBase && a+n <= ramBase+ramSize && a+n >= a }

// At a pause with the operator's NIC reset, the device (reset) gives up
// the requests it holds: they go back to the guest as used with nothing
// written, Ferry's own chain is forgotten, and receive buffers stay in
// flight for the next device. The oldest request is known until then.
func TestShadowGiveBack(t *testing.T) {
	r := newRig(t, 7)
	clock := int64(1000)
	r.s.Now = func() int64 { return clock }
	r.setDesc(r.gm, r.g.Desc, 0, desc{buf(0), 1526, DescWrite, 0})
	r.setDesc(r.gm, r.g.Desc, 1, desc{buf(1), 60, 0, 0})           // a frame to send
	r.setDesc(r.gm, r.g.Desc, 2, desc{buf(2), 12, DescNext, 3})    // a receive chain with a
	r.setDesc(r.gm, r.g.Desc, 3, desc{buf(3), 1526, DescWrite, 0}) // device-readable part
	r.post(0)
	r.post(2)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	clock = 2000
	r.post(1)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	if h, since, ok := r.s.OldestRequest(); !ok || h != 2 || since != 1000 {
		t.Fatalf("OldestRequest = %d, %d, %v", h, since, ok)
	}
	if err := r.s.Inject(ramBase, 60); err != nil {
		t.Fatal(err)
	}
	if n := r.s.GiveBack(); n != 2 {
		t.Fatalf("GiveBack = %d", n)
	}
	if got := r.usedEntries(7); fmt.Sprint(got) != "[2/0 1/0]" {
		t.Errorf("the guest's used ring %v", got)
	}
	if n, readable := r.s.Holding(); n != 1 || readable {
		t.Errorf("Holding = %d, %v", n, readable)
	}
	if _, _, ok := r.s.OldestRequest(); ok {
		t.Errorf("a request still held")
	}
	if p := r.s.Position(); p.Avail != 10 || p.Used != 9 || fmt.Sprint(p.InFlight) != "[0]" {
		t.Errorf("Position %+v", p)
	}
}

// Ferry's own frame goes out on a descriptor the device does not hold;
// its used entry never reaches the guest, and a guest chain that takes
// the same descriptor meanwhile waits for it.
func TestShadowInject(t *testing.T) {
	r := newRig(t, 7)
	const frame = 0x4300_f000 // Ferry's memory
	if err := r.s.Inject(frame, 72); err != nil {
		t.Fatal(err)
	}
	if err := r.s.Inject(frame, 72); !errors.Is(err, ErrWait) {
		t.Fatalf("a second Inject while the first is out: %v", err)
	}
	heads, chains := r.device(0)
	if len(heads) != 1 || chains[0][0].addr != frame || chains[0][0].len != 72 || chains[0][0].flags != 0 {
		t.Fatalf("the device saw %v %+v", heads, chains)
	}
	own := heads[0]
	// The device has used it, but the relay has not seen that yet: the
	// guest's chain on the same descriptor waits.
	r.setDesc(r.gm, r.g.Desc, own, desc{buf(0), 60, 0, 0})
	r.post(own)
	if n, err := r.s.Avail(); n != 0 || !errors.Is(err, ErrWait) {
		t.Fatalf("Avail over Ferry's descriptor = %d, %v", n, err)
	}
	if n, err := r.s.Used(); n != 0 || err != nil {
		t.Fatalf("Used of Ferry's own chain = %d, %v", n, err)
	}
	var b [2]byte
	r.gm.Read(r.g.Device+2, b[:])
	if got := binary.LittleEndian.Uint16(b[:]); got != 7 {
		t.Fatalf("the guest's used index moved to %d", got)
	}
	if n, err := r.s.Avail(); n != 1 || err != nil {
		t.Fatalf("Avail after = %d, %v", n, err)
	}
	if got := r.offered(1); fmt.Sprint(got) != fmt.Sprint([]uint16{own}) {
		t.Fatalf("offered %v", got)
	}
	if p := r.s.Position(); fmt.Sprint(p) != fmt.Sprintf("{8 7 [%d]}", own) {
		t.Fatalf("Position = %v", p)
	}
}

func (r *rig) get16(m *flat, addr uint64) uint16 {
	var b [2]byte
	if err := m.Read(addr, b[:]); err != nil {
		r.t.Fatal(err)
	}
	return binary.LittleEndian.Uint16(b[:])
}

// With event indices, the guest's avail_event says whether to kick, and
// its used_event, in its own terms (here across the 16-bit wrap), becomes
// the shadow's in the device's, bounded by what the device holds; a
// device that uses an entry while Ferry re-arms it is caught.
func TestShadowEventIdx(t *testing.T) {
	r := newRig(t, 0xfffe)
	r.s.EventIdx = true
	fences := 0
	r.s.Fence = func() { fences++ }
	for h := uint16(0); h < 4; h++ {
		r.setDesc(r.gm, r.g.Desc, h, desc{buf(uint64(h)), 1526, DescWrite, 0})
		r.post(h)
	}
	if n, err := r.s.Avail(); n != 4 || err != nil {
		t.Fatalf("Avail = %d, %v", n, err)
	}
	availEvent := func() uint16 { return r.get16(r.gm, r.g.Device+availEventAt(num)) }
	if r.s.NoNotify(true); availEvent() != r.avail-1 {
		t.Fatalf("told not to kick: avail_event %#x, the guest's index %#x", availEvent(), r.avail)
	}
	if r.s.NoNotify(false); availEvent() != r.avail {
		t.Fatalf("told to kick: avail_event %#x, the guest's index %#x", availEvent(), r.avail)
	}

	usedEvent := func() uint16 { return r.get16(r.sm, r.s.Ring().Driver+usedEventAt(num)) }
	// Entry 0x0000 of the guest's (the third from 0xfffe): the shadow's 2.
	r.put16(r.g.Driver+usedEventAt(num), 0x0000)
	if again := r.s.Arm(); again || usedEvent() != 2 || fences == 0 {
		t.Fatalf("Arm = %v; used_event %d, %d fences", again, usedEvent(), fences)
	}
	// Beyond the four the device holds, or behind the guest's used index:
	// the next entry.
	for _, g := range []uint16{0x0002, 0xfffd} {
		r.put16(r.g.Driver+usedEventAt(num), g)
		if r.s.Arm(); usedEvent() != 0 {
			t.Fatalf("the guest's event %#x: used_event %d, want 0", g, usedEvent())
		}
	}
	// The device uses an entry as Ferry re-arms it: Arm says so.
	r.put16(r.g.Driver+usedEventAt(num), 0xffff)
	r.use(0)
	if !r.s.Arm() {
		t.Fatal("Arm = false with an entry used unseen")
	}
	if n, err := r.s.Used(); n != 1 || err != nil {
		t.Fatalf("Used = %d, %v", n, err)
	}
	if again := r.s.Arm(); again || usedEvent() != 1 {
		t.Fatalf("Arm again = %v; used_event %d, want 1", again, usedEvent())
	}
}

// A receive buffer as large as guest RAM, into which the device writes a
// frame: what is reported (and marked dirty in a migration) is the frame,
// not the buffer.
func TestShadowWroteBoundedByUsedLength(t *testing.T) {
	r := newRig(t, 0)
	var wrote []string
	var total uint64
	r.s.Wrote = func(a, n uint64) { wrote = append(wrote, fmt.Sprintf("%#x+%d", a, n)); total += n }
	r.setDesc(r.gm, r.g.Desc, 0, desc{ramBase, ramSize / 2, DescWrite | DescNext, 1})
	r.setDesc(r.gm, r.g.Desc, 1, desc{ramBase + ramSize/2, ramSize / 2, DescWrite, 0})
	r.post(0)
	if _, err := r.s.Avail(); err != nil {
		t.Fatal(err)
	}
	r.device(0) // uses head 0 with length 100
	if _, err := r.s.Used(); err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%#x+100", ramBase); len(wrote) != 3 || wrote[0] != want || total != 100+usedElem+2 {
		t.Errorf("reported %v (%d bytes), want %s and the used ring", wrote, total, want)
	}
}
