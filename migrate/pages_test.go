// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"github.com/ferry-hv/ferry/phys"
	"strings"
	"testing"
)

var pagesRAM = []phys.Range{{0x4000_0000, 4 << 20}, {0x8000_0000, 8 * PageSize}}

// patterned: page ipa is zero if (ipa>>12)%3 == 0, else filled with its
// page number.
func patterned(ipa uint64, p []byte) {
	if (ipa>>12)%3 == 0 {
		return
	}
	for i := range p {
		p[i] = byte(ipa>>12) + byte(i)
	}
}

func TestPagesRoundTrip(t *testing.T) {
	for _, c := range []struct {
		base  uint64
		count int
	}{
		{0x4000_0000, PagesPerRecord},
		{0x4000_0000, 1},
		{0x4000_3000, 13},
		{0x8000_0000, 8},
		{0x8000_1000, 7},
	} {
		p, zero, err := EncodePages(nil, c.base, c.count, patterned)
		if err != nil {
			t.Fatal(err)
		}
		if len(p) > MaxPayload(TypePages) {
			t.Fatalf("%d bytes over the cap", len(p))
		}
		b, err := DecodePages(p, pagesRAM)
		if err != nil {
			t.Fatalf("%#x+%d: %v", c.base, c.count, err)
		}
		if b.Base != c.base || b.Count != c.count {
			t.Fatalf("got %#x+%d", b.Base, b.Count)
		}
		i, z := 0, 0
		for ipa, data := range b.All() {
			want := make([]byte, PageSize)
			patterned(ipa, want)
			if ipa != c.base+uint64(i)*PageSize {
				t.Fatalf("page %d at %#x", i, ipa)
			}
			if data == nil {
				z++
				if !bytes.Equal(want, zeroPage[:]) {
					t.Fatalf("page %#x sent as zero", ipa)
				}
			} else if !bytes.Equal(data, want) {
				t.Fatalf("page %#x differs", ipa)
			}
			i++
		}
		if i != c.count || z != zero {
			t.Fatalf("%d pages, %d zero; want %d, %d", i, z, c.count, zero)
		}
	}
}

func TestPagesAllZeroAndFull(t *testing.T) {
	p, zero, _ := EncodePages(nil, 0x4000_0000, PagesPerRecord, func(uint64, []byte) {})
	if zero != PagesPerRecord || len(p) != pagesHeader+PagesPerRecord/8 {
		t.Fatalf("all-zero batch: %d zero, %d bytes", zero, len(p))
	}
	p, zero, _ = EncodePages(nil, 0x4000_0000, PagesPerRecord, func(_ uint64, b []byte) { b[PageSize-1] = 1 })
	if zero != 0 || len(p) != MaxPayload(TypePages) {
		t.Fatalf("full batch: %d zero, %d bytes, cap %d", zero, len(p), MaxPayload(TypePages))
	}
}

func TestEncodePagesRefuses(t *testing.T) {
	for _, c := range []struct {
		base  uint64
		count int
	}{{0x4000_0000, 0}, {0x4000_0000, PagesPerRecord + 1}, {0x4000_0800, 1}, {1<<64 - PageSize, 2}} {
		if _, _, err := EncodePages(nil, c.base, c.count, patterned); !errors.Is(err, ErrInvalid) {
			t.Errorf("%#x+%d: %v", c.base, c.count, err)
		}
	}
}

func pagesPayload(base uint64, count uint32, bitmap []byte, data int) []byte {
	p := binary.LittleEndian.AppendUint64(nil, base)
	p = binary.LittleEndian.AppendUint32(p, count)
	p = append(p, bitmap...)
	return append(p, make([]byte, data)...)
}

func TestDecodePagesRefuses(t *testing.T) {
	good, _, _ := EncodePages(nil, 0x4000_3000, 13, patterned)
	cases := []struct {
		name string
		p    []byte
		want error
		says string
	}{
		{"empty", nil, ErrTruncated, "header"},
		{"short header", good[:11], ErrTruncated, "header"},
		{"short bitmap", good[:13], ErrTruncated, "bitmap"},
		{"count 0", pagesPayload(0x4000_0000, 0, nil, 0), ErrInvalid, "count 0"},
		{"count 513", pagesPayload(0x4000_0000, 513, make([]byte, 65), 0), ErrInvalid, "count 513"},
		{"huge count", pagesPayload(0x4000_0000, 0xffffffff, nil, 0), ErrInvalid, "count 4294967295"},
		{"unaligned", pagesPayload(0x4000_0010, 1, []byte{1}, 0), ErrInvalid, "0x40000010 not 4096-byte aligned"},
		{"below RAM", pagesPayload(0x3fff_f000, 1, []byte{1}, 0), ErrInvalid, "not inside guest RAM"},
		{"straddles the end", pagesPayload(0x8000_7000, 2, []byte{3}, 0), ErrInvalid, "not inside guest RAM"},
		{"between ranges", pagesPayload(0x5000_0000, 1, []byte{1}, 0), ErrInvalid, "not inside guest RAM"},
		{"wraps", pagesPayload(1<<64-PageSize, 2, []byte{3}, 0), ErrInvalid, "not inside guest RAM"},
		{"padding bits", pagesPayload(0x4000_0000, 3, []byte{0x0f}, 0), ErrInvalid, "bitmap bits set past page 3"},
		{"a page short", good[:len(good)-1], ErrInvalid, "need"},
		{"a byte over", append(good[:len(good):len(good)], 0), ErrInvalid, "need"},
		{"data for a zero page", pagesPayload(0x4000_0000, 1, []byte{1}, PageSize), ErrInvalid, "0 non-zero pages need 0 bytes, payload has 4096"},
	}
	for _, c := range cases {
		_, err := DecodePages(c.p, pagesRAM)
		if !errors.Is(err, c.want) || !strings.Contains(err.Error(), c.says) {
			t.Errorf("%s: got %v, want %v saying %q", c.name, err, c.want, c.says)
		}
	}
	if _, err := DecodePages(good, nil); !errors.Is(err, ErrInvalid) {
		t.Errorf("no RAM: %v", err)
	}
}

type viewer map[uint64][]byte

func (v viewer) PageView(ipa uint64) []byte {
	if p, ok := v[ipa]; ok {
		return p
	}
	return zeroPage[:]
}

// The in-place path encodes exactly what the copying path does.
func TestEncodePagesViewMatches(t *testing.T) {
	v := viewer{}
	for i := uint64(0); i < PagesPerRecord; i += 3 {
		p := make([]byte, PageSize)
		p[i%PageSize] = byte(i + 1)
		v[0x4000_0000+i*PageSize] = p
	}
	a, za, err := EncodePages(nil, 0x4000_0000, PagesPerRecord, func(ipa uint64, b []byte) { copy(b, v.PageView(ipa)) })
	if err != nil {
		t.Fatal(err)
	}
	b, zb, err := EncodePagesView(nil, 0x4000_0000, PagesPerRecord, v)
	if err != nil || za != zb || !bytes.Equal(a, b) {
		t.Fatalf("view path differs: zero %d vs %d, %d vs %d bytes, %v", za, zb, len(a), len(b), err)
	}
	if _, _, err := EncodePagesView(nil, 0x4000_0001, 1, v); !errors.Is(err, ErrInvalid) {
		t.Fatalf("unaligned base: %v", err)
	}
}
