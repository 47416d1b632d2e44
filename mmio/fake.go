// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmio

import (
	"encoding/binary"
	"fmt"
)

// Fake is a Device for tests (here and in device-model packages): a
// little-endian register file of Size bytes that records every access.
// Accesses outside it read as zero and are ignored, and are recorded too.
// OnRead, if set, supplies a read's value instead (e.g. a status register).
type Fake struct {
	Mem    []byte
	Ops    []Op
	OnRead func(off uint64, size int) (uint64, bool)
}

// Op is one access seen by a Fake.
type Op struct {
	Write bool
	Off   uint64
	Size  int
	Val   uint64
}

func (o Op) String() string {
	if o.Write {
		return fmt.Sprintf("W%d %#x=%#x", o.Size, o.Off, o.Val)
	}
	return fmt.Sprintf("R%d %#x=%#x", o.Size, o.Off, o.Val)
}

// NewFake returns a zeroed Fake of size bytes.
func NewFake(size int) *Fake { return &Fake{Mem: make([]byte, size)} }

func (f *Fake) in(off uint64, size int) bool {
	return size >= 1 && size <= 8 && off < uint64(len(f.Mem)) && uint64(len(f.Mem))-off >= uint64(size)
}

// Read returns the bytes at off, little-endian.
func (f *Fake) Read(off uint64, size int) uint64 {
	var v uint64
	if r, ok := f.onRead(off, size); ok {
		v = r
	} else if f.in(off, size) {
		var b [8]byte
		copy(b[:], f.Mem[off:off+uint64(size)])
		v = binary.LittleEndian.Uint64(b[:])
	}
	f.Ops = append(f.Ops, Op{false, off, size, v})
	return v
}

func (f *Fake) onRead(off uint64, size int) (uint64, bool) {
	if f.OnRead == nil {
		return 0, false
	}
	return f.OnRead(off, size)
}

// Write stores the low size bytes of v at off, little-endian.
func (f *Fake) Write(off uint64, size int, v uint64) {
	f.Ops = append(f.Ops, Op{true, off, size, v})
	if f.in(off, size) {
		var b [8]byte
		binary.LittleEndian.PutUint64(b[:], v)
		copy(f.Mem[off:off+uint64(size)], b[:size])
	}
}

// Writes returns the recorded writes, in order.
func (f *Fake) Writes() []Op {
	var w []Op
	for _, o := range f.Ops {
		if o.Write {
			w = append(w, o)
		}
	}
	return w
}
