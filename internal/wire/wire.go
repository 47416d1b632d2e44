// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package wire is the little-endian binary encoding every piece of
// migratable state uses: a Writer that appends fixed-size fields, and a
// Reader that reads them back with a sticky error, bounds-checked, so a
// decoder over hostile bytes returns an error instead of panicking.
//
// It knows nothing about what is encoded; each state struct has its own
// versioned Encode/Decode built from these calls.
package wire

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// ErrShort is returned when the input ends before a field.
var ErrShort = errors.New("truncated")

// Writer appends encoded fields to a byte slice.
type Writer struct{ b []byte }

// Bytes returns what has been written.
func (w *Writer) Bytes() []byte { return w.b }

func (w *Writer) U8(v uint8)   { w.b = append(w.b, v) }
func (w *Writer) U16(v uint16) { w.b = binary.LittleEndian.AppendUint16(w.b, v) }
func (w *Writer) U32(v uint32) { w.b = binary.LittleEndian.AppendUint32(w.b, v) }
func (w *Writer) U64(v uint64) { w.b = binary.LittleEndian.AppendUint64(w.b, v) }

// U64s writes a count and the values.
func (w *Writer) U64s(v []uint64) {
	w.U32(uint32(len(v)))
	for _, x := range v {
		w.U64(x)
	}
}

// Blob writes a length and the bytes.
func (w *Writer) Blob(v []byte) {
	w.U32(uint32(len(v)))
	w.b = append(w.b, v...)
}

// Raw writes fixed-size bytes, without a length.
func (w *Writer) Raw(v []byte) { w.b = append(w.b, v...) }

// Reader reads fields back; after the first failure every read returns zero
// and Err reports what failed where.
type Reader struct {
	b   []byte
	off int
	err error
}

// NewReader reads from b.
func NewReader(b []byte) *Reader { return &Reader{b: b} }

// Err is the first failure, or nil.
func (r *Reader) Err() error { return r.err }

// Fail records err (if none is recorded yet), for semantic checks made by
// the decoder itself.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// Done fails unless every byte was consumed.
func (r *Reader) Done() error {
	if r.err == nil && r.off != len(r.b) {
		r.err = fmt.Errorf("%d trailing bytes", len(r.b)-r.off)
	}
	return r.err
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || len(r.b)-r.off < n {
		r.err = fmt.Errorf("%w: need %d bytes at offset %d, have %d", ErrShort, n, r.off, len(r.b)-r.off)
		return nil
	}
	p := r.b[r.off : r.off+n]
	r.off += n
	return p
}

func (r *Reader) U8() uint8 {
	if p := r.take(1); p != nil {
		return p[0]
	}
	return 0
}

func (r *Reader) U16() uint16 {
	if p := r.take(2); p != nil {
		return binary.LittleEndian.Uint16(p)
	}
	return 0
}

func (r *Reader) U32() uint32 {
	if p := r.take(4); p != nil {
		return binary.LittleEndian.Uint32(p)
	}
	return 0
}

func (r *Reader) U64() uint64 {
	if p := r.take(8); p != nil {
		return binary.LittleEndian.Uint64(p)
	}
	return 0
}

// Raw reads n fixed-size bytes (aliasing the input; nil after a failure).
func (r *Reader) Raw(n int) []byte { return r.take(n) }

// U64s reads a count (at most max) and that many values.
func (r *Reader) U64s(max int) []uint64 {
	n := int(r.U32())
	if r.err == nil && n > max {
		r.err = fmt.Errorf("count %d over the limit %d", n, max)
	}
	if r.err != nil {
		return nil
	}
	v := make([]uint64, n)
	for i := range v {
		v[i] = r.U64()
	}
	return v
}

// Blob reads a length (at most max) and that many bytes (a copy).
func (r *Reader) Blob(max int) []byte {
	n := int(r.U32())
	if r.err == nil && n > max {
		r.err = fmt.Errorf("length %d over the limit %d", n, max)
	}
	return append([]byte(nil), r.take(n)...)
}
