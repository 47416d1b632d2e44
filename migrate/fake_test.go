// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"errors"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"slices"
	"sync"
	"time"

	"github.com/ferry-hv/ferry/dirty"
)

// Fake machines: guest RAM in memory, calls counted.

type memRange struct {
	phys.Range
	b []byte
}

type memory []memRange

func newMemory(ram []phys.Range, fill byte) memory {
	m := make(memory, len(ram))
	for i, r := range ram {
		m[i] = memRange{r, make([]byte, r.Size)}
		if fill != 0 {
			for j := range m[i].b {
				m[i].b[j] = fill
			}
		}
	}
	return m
}

func (m memory) page(ipa uint64) []byte {
	for _, r := range m {
		if ipa >= r.Base && ipa-r.Base < r.Size && ipa%PageSize == 0 {
			off := ipa - r.Base
			return r.b[off : off+PageSize]
		}
	}
	return nil
}

func (m memory) equal(o memory) error {
	for i := range m {
		if m[i].Range != o[i].Range {
			return fmt.Errorf("range %d: %v vs %v", i, m[i].Range, o[i].Range)
		}
		for off := uint64(0); off < m[i].Size; off += PageSize {
			if !slices.Equal(m[i].b[off:off+PageSize], o[i].b[off:off+PageSize]) {
				return fmt.Errorf("page at %#x differs", m[i].Base+off)
			}
		}
	}
	return nil
}

// fillPattern gives RAM a mix of pages: zero pages (every fourth, and all
// of the second batch of 512), pages with only their last byte set, and
// patterned pages. It returns how many pages are zero.
func fillPattern(m memory) (zero uint64) {
	i := uint64(0)
	for _, r := range m {
		for off := uint64(0); off < r.Size; off += PageSize {
			p := r.b[off : off+PageSize]
			switch {
			case i%4 == 0 || i/PagesPerRecord == 1:
				clear(p)
				zero++
			case i%4 == 1:
				clear(p)
				p[PageSize-1] = byte(i) | 1
			default:
				x := i*0x9e3779b97f4a7c15 + 1
				for j := range p {
					x ^= x << 13
					x ^= x >> 7
					x ^= x << 17
					p[j] = byte(x)
				}
			}
			i++
		}
	}
	return zero
}

type fakeSource struct {
	mu     sync.Mutex
	fp     Fingerprint
	mem    memory
	states []State

	pauseErr, statesErr, trackErr error

	paused                          bool
	pauses, resumes, giveUps        int
	readsUntracked, readsOutside    int
	tracking                        bool
	tracks, untracks, harvests      int
	log                             *dirty.Bitmap
	throttle                        float64
	faults                          uint64
	writesWhilePaused               int
	trackedAtPause, trackedAtGiveUp bool

	// guest, if set, is the running guest: called at every yield of
	// Send (WithYield(src.yield)), it writes pages with write.
	guest func(s *fakeSource)
	steps int
}

// yield is the fake machine's slice boundary: the guest runs a step.
func (s *fakeSource) yield() {
	s.mu.Lock()
	g := s.guest
	run := g != nil && !s.paused && s.giveUps == 0
	s.mu.Unlock()
	if run {
		g(s)
		s.mu.Lock()
		s.steps++
		s.mu.Unlock()
	}
}

// write is the guest writing byte v over the page at ipa.
// pagePatterns are the fake guest's page contents: pattern v has byte i
// = v ^ i. Copied, not computed per byte: the guest of the pre-copy tests
// writes hundreds of pages per step, and computing them took 80% of those
// tests' time.
var pagePatterns = sync.OnceValue(func() *[256][PageSize]byte {
	var p [256][PageSize]byte
	for v := range p {
		for i := range p[v] {
			p[v][i] = byte(v) ^ byte(i)
		}
	}
	return &p
})

func (s *fakeSource) write(ipa uint64, v byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.paused {
		s.writesWhilePaused++
		return
	}
	copy(s.mem.page(ipa), pagePatterns()[v][:])
	if s.tracking {
		if s.log.Set((ipa - s.fp.RAM[0].Base) / PageSize) {
			s.faults++
		}
	}
}

func (s *fakeSource) Track() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tracks++
	if s.trackErr != nil {
		return s.trackErr
	}
	last := s.fp.RAM[len(s.fp.RAM)-1]
	s.log = dirty.New((last.End() - s.fp.RAM[0].Base) / PageSize)
	s.tracking = true
	return nil
}

func (s *fakeSource) Harvest() (*dirty.Bitmap, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.harvests++
	h := dirty.New(s.log.Len())
	h.Or(s.log)
	s.log.Harvest(func(uint64) {})
	return h, nil
}

func (s *fakeSource) Untrack() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.untracks++
	s.tracking = false
}

func (s *fakeSource) Throttle(t float64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttle = t
}

func (s *fakeSource) CPU() (guest, ferry time.Duration) { return 0, 0 }

func (s *fakeSource) Faults() (uint64, time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.faults, time.Duration(s.faults) * time.Microsecond
}

func (s *fakeSource) Fingerprint() Fingerprint { return s.fp }

func (s *fakeSource) Pause() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pauses++
	if s.pauseErr != nil {
		return s.pauseErr
	}
	s.paused = true
	s.trackedAtPause = s.tracking
	return nil
}

func (s *fakeSource) Resume() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resumes++
	s.paused = false
}

func (s *fakeSource) PageView(ipa uint64) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.tracking {
		s.readsUntracked++
	}
	p := s.mem.page(ipa)
	if p == nil {
		s.readsOutside++
		return zeroPage[:]
	}
	return p
}

func (s *fakeSource) States() ([]State, error) {
	if s.statesErr != nil {
		return nil, s.statesErr
	}
	return s.states, nil
}

func (s *fakeSource) GiveUp() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.giveUps++
	s.trackedAtGiveUp = s.tracking
}

// running says whether the guest runs on the source.
func (s *fakeSource) running() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.paused && s.giveUps == 0
}

func (s *fakeSource) counts() (pauses, resumes, giveUps int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pauses, s.resumes, s.giveUps
}

type fakeSink struct {
	mu  sync.Mutex
	fp  Fingerprint
	mem memory

	restoreErr, resumeErr error
	onRestore             func()
	stuck                 uint64 // a page whose writes do not stick (PageView shows otherwise)

	writes, outside             int
	restored                    []State
	restores, resumes, discards int
}

func (d *fakeSink) Fingerprint() Fingerprint { return d.fp }

func (d *fakeSink) WritePage(ipa uint64, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	p := d.mem.page(ipa)
	if p == nil {
		d.outside++
		return errors.New("outside RAM")
	}
	d.writes++
	if data == nil {
		clear(p)
	} else {
		copy(p, data)
	}
	return nil
}

func (d *fakeSink) PageView(ipa uint64) []byte {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stuck == ipa && ipa != 0 {
		return zeroPage[1:] // a page that does not hold the write
	}
	return d.mem.page(ipa)
}

func (d *fakeSink) Restore(states []State) error {
	if d.onRestore != nil {
		d.onRestore()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.restores++
	if d.restoreErr != nil {
		return d.restoreErr
	}
	d.restored = states
	return nil
}

func (d *fakeSink) Resume() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.resumes++
	return d.resumeErr
}

func (d *fakeSink) Discard() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.discards++
}

func (d *fakeSink) counts() (restores, resumes, discards int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.restores, d.resumes, d.discards
}

// testFingerprint: a Cortex-A72 with two RAM ranges, 48 MiB and 16 MiB plus
// three pages (so the last batch is short and its bitmap has padding).
func testFingerprint() Fingerprint {
	return Fingerprint{
		MIDR: 0x410fd083,
		Features: map[string]uint64{
			"ID_AA64PFR0_EL1":  0x1100000011111112,
			"ID_AA64ISAR0_EL1": 0x11120,
			"ID_AA64MMFR0_EL1": 0x1124,
		},
		RAM: []phys.Range{
			{0x4000_0000, 48 << 20},
			{0x1_0000_0000, 16<<20 + 3*PageSize},
		},
		Devices:  []string{"arm,pl011@9000000", "arm,gic-v3@8000000", "virtio,mmio@a000000"},
		PageSize: PageSize,
		States:   []StateVersion{{"cpu", 1, 1}, {"gic", 2, 1}, {"uart", 1, 1}},
		CPUs:     []uint64{0x80000000, 0x80000001},
	}
}

func smallFingerprint() Fingerprint {
	f := testFingerprint()
	f.RAM = []phys.Range{{0x4000_0000, 2 << 20}, {0x8000_0000, 5 * PageSize}}
	return f
}

func testStates() []State {
	return []State{
		{Name: "cpu", Version: 1, Data: []byte("x0..x30 pc pstate")},
		{Name: "gic", Version: 2, Data: make([]byte, 4000)},
		{Name: "uart", Version: 1, Data: nil},
	}
}

func newMachines(fp Fingerprint) (*fakeSource, *fakeSink, uint64) {
	src := &fakeSource{fp: fp, mem: newMemory(fp.RAM, 0), states: testStates()}
	zero := fillPattern(src.mem)
	dst := &fakeSink{fp: fp, mem: newMemory(fp.RAM, 0xaa)}
	return src, dst, zero
}
