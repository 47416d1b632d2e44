// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package wire

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	var w Writer
	w.U8(1)
	w.U16(0x0203)
	w.U32(0x04050607)
	w.U64(0x08090a0b0c0d0e0f)
	w.U64s([]uint64{1, 2, 3})
	w.Blob([]byte("ferry"))
	w.Raw([]byte{0xaa, 0xbb})
	r := NewReader(w.Bytes())
	if r.U8() != 1 || r.U16() != 0x0203 || r.U32() != 0x04050607 || r.U64() != 0x08090a0b0c0d0e0f {
		t.Fatal("fixed fields")
	}
	if v := r.U64s(3); len(v) != 3 || v[2] != 3 {
		t.Fatalf("U64s %v", v)
	}
	if b := r.Blob(5); string(b) != "ferry" {
		t.Fatalf("Blob %q", b)
	}
	if b := r.Raw(2); len(b) != 2 || b[0] != 0xaa || b[1] != 0xbb {
		t.Fatalf("Raw %x", b)
	}
	if err := r.Done(); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	r := NewReader([]byte{1, 2, 3})
	r.U64()
	if !errors.Is(r.Err(), ErrShort) {
		t.Fatalf("short read: %v", r.Err())
	}
	if r.U8() != 0 || r.Raw(1) != nil {
		t.Fatal("read after an error must return zero")
	}
	var w Writer
	w.U64s([]uint64{1, 2})
	if r := NewReader(w.Bytes()); r.U64s(1) != nil || r.Err() == nil {
		t.Fatal("count over the limit accepted")
	}
	w = Writer{}
	w.U32(1 << 30) // a blob claiming 1 GiB
	if r := NewReader(w.Bytes()); r.Blob(1<<31) != nil || r.Err() == nil {
		t.Fatal("blob longer than the input accepted")
	}
	if err := NewReader([]byte{0}).Done(); err == nil {
		t.Fatal("trailing bytes accepted")
	}
}

func FuzzReader(f *testing.F) {
	f.Add([]byte{3, 0, 0, 0, 1, 2, 3})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(b)
		r.U8()
		r.Blob(64)
		r.U64s(8)
		r.Done()
	})
}
