// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import (
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"
)

// The fuzzer works in two windows of IPA space: 8 MiB straddling the first
// level-1 boundary, and the top 4 MiB of the 40-bit space (in the second
// concatenated level-1 table), where ranges can run off the end.
var fuzzWindows = [...]struct{ base, pages uint64 }{
	{gib - 4<<20, 2048},
	{1<<40 - 4<<20, 1024},
}

// Output bases: 2 MiB aligned, 4 KiB aligned, and high.
var fuzzPABases = [...]uint64{0x8000_0000, 0x9000_3000, 0x7f_0000_0000, 0}

type modelPage struct {
	pa       uint64
	attr     S2Attr
	writable bool
}

// model is the reference: a map of mapped 4 KiB pages.
type model map[uint64]modelPage

func (m model) anyMapped(ipa, size uint64) bool {
	for p := ipa; p < ipa+size; p += PageSize {
		if _, ok := m[p]; ok {
			return true
		}
	}
	return false
}

// fuzzOp is one operation decoded from 6 bytes.
type fuzzOp struct {
	kind          byte // 0 Map, 1 Unmap, 2 WriteProtect, 3 AllowWrite
	attr          S2Attr
	ipa, pa, size uint64
	misalign      bool
}

const fuzzOpBytes = 6

func decodeOp(b []byte) fuzzOp {
	w := fuzzWindows[b[0]>>2&1]
	start := uint64(binary.LittleEndian.Uint16(b[1:])) % w.pages
	pages := uint64(binary.LittleEndian.Uint16(b[3:])) % (w.pages + 1)
	op := fuzzOp{
		kind:     b[0] & 3,
		attr:     S2Attr(b[0] >> 3 & 1),
		ipa:      w.base + start*PageSize,
		size:     pages * PageSize,
		misalign: b[0]>>4&7 == 7,
	}
	op.pa = fuzzPABases[b[5]&3] + (start+uint64(b[5]>>2))*PageSize
	if op.misalign {
		op.ipa += 0x800
	}
	return op
}

// apply runs op on s and on m, and checks the error s returned against what
// the model predicts.
func apply(t *testing.T, s *Stage2, m model, op fuzzOp) {
	t.Helper()
	inRange := op.size > 0 && op.ipa+op.size <= 1<<40
	var err error
	var want error
	switch {
	case op.kind == 3: // AllowWrite takes any address in the page
	case op.misalign:
		want = ErrAlign
	case !inRange:
		want = ErrRange
	}
	switch op.kind {
	case 0:
		err = s.Map(op.ipa, op.pa, op.size, op.attr)
		if want == nil && m.anyMapped(op.ipa, op.size) {
			want = ErrMapped
		}
		if err == nil {
			for i := uint64(0); i < op.size; i += PageSize {
				m[op.ipa+i] = modelPage{op.pa + i, op.attr, true}
			}
		}
	case 1:
		if err = s.Unmap(op.ipa, op.size); err == nil {
			for i := uint64(0); i < op.size; i += PageSize {
				delete(m, op.ipa+i)
			}
		}
	case 2:
		var n int
		n, err = s.WriteProtect(op.ipa, op.size)
		if err == nil {
			count := 0
			for i := uint64(0); i < op.size; i += PageSize {
				if p, ok := m[op.ipa+i]; ok {
					p.writable = false
					m[op.ipa+i] = p
					count++
				}
			}
			if n != count {
				t.Fatalf("WriteProtect(%#x, %#x) = %d, model says %d", op.ipa, op.size, n, count)
			}
		}
	case 3:
		page := op.ipa &^ (PageSize - 1)
		err = s.AllowWrite(op.ipa)
		if p, ok := m[page]; ok {
			p.writable = true
			m[page] = p
		} else {
			want = ErrNotMapped
		}
	}
	// Running out of tables is allowed where no other error is due, and
	// must leave the state alone (checked by the caller).
	if !errors.Is(err, want) && !(want == nil && errors.Is(err, ErrExhausted)) {
		t.Fatalf("op %+v: err %v, want %v", op, err, want)
	}
}

// checkModel compares Lookup with the model on every page of the windows.
func checkModel(t *testing.T, s *Stage2, m model, after fuzzOp) {
	t.Helper()
	const probe = 0x18 // an offset within the page
	for _, w := range fuzzWindows {
		for i := range w.pages {
			ipa := w.base + i*PageSize
			pa, attr, writable, level, ok := s.Lookup(ipa + probe)
			p, want := m[ipa]
			if ok != want || (ok && (pa != p.pa+probe || attr != p.attr || writable != p.writable)) {
				t.Fatalf("after %+v: Lookup(%#x) = %#x %v w=%v l=%d ok=%v; model %+v %v",
					after, ipa, pa, attr, writable, level, ok, p, want)
			}
			if ok && level != 3 && (level != 2 || !writable) {
				t.Fatalf("after %+v: %#x at level %d writable %v", after, ipa, level, writable)
			}
		}
	}
}

// runOps is the fuzz body: byte 0 picks the arena size, then every 6 bytes
// are an operation.
func runOps(t *testing.T, data []byte) {
	if len(data) == 0 {
		return
	}
	pages := []int{12, 40, 400}[int(data[0])%3]
	_, s := newTestStage2(t, pages, 40)
	m := model{}
	data = data[1:]
	for n := 0; len(data) >= fuzzOpBytes && n < 64; n++ {
		op := decodeOp(data)
		data = data[fuzzOpBytes:]
		apply(t, s, m, op)
		checkModel(t, s, m, op)
	}
}

func FuzzMapUnmap(f *testing.F) {
	f.Add([]byte{2})
	// Map the whole low window aligned, protect it, allow a page, punch
	// a hole, remap it misaligned.
	f.Add([]byte{2,
		0x00, 0, 0, 0x00, 0x08, 0x00,
		0x02, 0, 0, 0x00, 0x08, 0x00,
		0x03, 0x10, 0x02, 0, 0, 0,
		0x01, 0x00, 0x01, 0x10, 0x00, 0x00,
		0x08, 0x00, 0x01, 0x10, 0x00, 0x05,
		0x70, 0, 0, 0x01, 0, 0,
	})
	// The high window: map to the end, then past it.
	f.Add([]byte{1,
		0x0c, 0x00, 0x02, 0x00, 0x02, 0x02,
		0x04, 0x00, 0x03, 0x00, 0x02, 0x00,
		0x06, 0x00, 0x00, 0x00, 0x04, 0x00,
		0x05, 0x80, 0x03, 0x00, 0x01, 0x00,
	})
	// A tiny arena.
	f.Add([]byte{0,
		0x00, 0, 0, 0x00, 0x08, 0x00,
		0x04, 0, 0, 0x00, 0x04, 0x00,
		0x02, 0x01, 0, 0x01, 0x00, 0x00,
	})
	f.Fuzz(runOps)
}

// TestRandomOps runs the fuzz body on pseudo-random inputs so that plain
// `go test` covers it beyond the seed corpus.
func TestRandomOps(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	n := 100
	if testing.Short() {
		n = 20
	}
	for range n {
		data := make([]byte, 1+fuzzOpBytes*(1+r.IntN(40)))
		for i := range data {
			data[i] = byte(r.Uint32())
		}
		// Bias towards whole 2 MiB-aligned ranges now and then.
		for i := 1; i+fuzzOpBytes <= len(data); i += fuzzOpBytes {
			if r.IntN(3) == 0 {
				data[i+1] &^= 0xff
				data[i+2] &^= 1
				data[i+3], data[i+4] = 0, byte(2*(1+r.IntN(3)))
				data[i+5] &^= 0xfc
			}
		}
		runOps(t, data)
	}
}
