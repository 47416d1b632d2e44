// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"iter"
	"math/bits"
)

// PagesPerRecord is the most pages one Pages record carries.
const PagesPerRecord = 512

// pagesHeader is the fixed part of a Pages payload: base u64, count u32.
const pagesHeader = 8 + 4

// maxPages is the Pages cap: a full batch with no zero page.
const maxPages = pagesHeader + PagesPerRecord/8 + PagesPerRecord*PageSize

var zeroPage [PageSize]byte

// PageViewer is a Source that can show a guest page in place, sparing
// EncodePages a copy of every page: the zero test reads guest memory
// directly and only non-zero pages are copied, once, into the record.
type PageViewer interface {
	// PageView returns the guest page at ipa; it is read before the next
	// call and never kept.
	PageView(ipa uint64) []byte
}

// EncodePagesView appends to dst the payload of a Pages record for the
// count pages from IPA base, as v shows them: base u64 | count u32 |
// count-bit zero bitmap (bit i of byte i/8 set: page i is all zeros) | the
// contents of the non-zero pages, in order. zero is how many pages were
// zero.
func EncodePagesView(dst []byte, base uint64, count int, v PageViewer) (payload []byte, zero int, err error) {
	if count < 1 || count > PagesPerRecord {
		return dst, 0, fmt.Errorf("%w: page count %d, want 1 to %d", ErrInvalid, count, PagesPerRecord)
	}
	if base%PageSize != 0 || base+uint64(count)*PageSize < base {
		return dst, 0, fmt.Errorf("%w: pages base %#x count %d", ErrInvalid, base, count)
	}
	return encodePages(dst, base, count, v.PageView)
}

func encodePages(dst []byte, base uint64, count int, page func(ipa uint64) []byte) ([]byte, int, error) {
	dst = binary.LittleEndian.AppendUint64(dst, base)
	dst = binary.LittleEndian.AppendUint32(dst, uint32(count))
	dst, zero := appendContents(dst, count, func(i int) []byte { return page(base + uint64(i)*PageSize) })
	return dst, zero, nil
}

// appendContents appends the zero bitmap of count pages and the contents
// of the non-zero ones, in order; page(i) shows page i. It returns how
// many were zero.
func appendContents(dst []byte, count int, page func(i int) []byte) ([]byte, int) {
	zero := 0
	bitmap := len(dst)
	dst = append(dst, make([]byte, (count+7)/8)...)
	for i := range count {
		p := page(i)
		if bytes.Equal(p, zeroPage[:]) {
			dst[bitmap+i/8] |= 1 << (i % 8)
			zero++
			continue
		}
		dst = append(dst, p...)
	}
	return dst, zero
}

// PageBatch is a decoded Pages record. Its slices alias the payload.
type PageBatch struct {
	Base   uint64
	Count  int
	Bitmap []byte // bit i set: page i is zero
	Data   []byte // the non-zero pages, in order
}

// IsZero says whether page i of the batch is all zeros.
func (b PageBatch) IsZero(i int) bool { return b.Bitmap[i/8]>>(i%8)&1 != 0 }

// All yields each page's IPA and contents, nil for a zero page.
func (b PageBatch) All() iter.Seq2[uint64, []byte] {
	return func(yield func(uint64, []byte) bool) {
		data := b.Data
		for i := range b.Count {
			var p []byte
			if !b.IsZero(i) {
				p, data = data[:PageSize:PageSize], data[PageSize:]
			}
			if !yield(b.Base+uint64(i)*PageSize, p) {
				return
			}
		}
	}
}

// DecodePages decodes a Pages payload and checks it against the guest RAM
// announced in Hello: the base is page-aligned, the count is 1 to
// PagesPerRecord, the bitmap's unused high bits are clear, the whole batch
// lies inside one RAM range (a page is never written outside guest RAM),
// and the payload holds exactly as many page contents as the bitmap has
// non-zero pages.
func DecodePages(p []byte, ram []phys.Range) (PageBatch, error) {
	if len(p) < pagesHeader {
		return PageBatch{}, fmt.Errorf("pages: %w: header needs %d bytes, have %d", ErrTruncated, pagesHeader, len(p))
	}
	b := PageBatch{
		Base:  binary.LittleEndian.Uint64(p),
		Count: int(binary.LittleEndian.Uint32(p[8:])),
	}
	n := binary.LittleEndian.Uint32(p[8:])
	if n < 1 || n > PagesPerRecord {
		return PageBatch{}, fmt.Errorf("pages: %w: count %d, want 1 to %d", ErrInvalid, n, PagesPerRecord)
	}
	if b.Base%PageSize != 0 {
		return PageBatch{}, fmt.Errorf("pages: %w: base %#x not %d-byte aligned", ErrInvalid, b.Base, PageSize)
	}
	size := uint64(n) * PageSize
	if !inside(ram, b.Base, size) {
		return PageBatch{}, fmt.Errorf("pages: %w: %d pages at %#x not inside guest RAM %s", ErrInvalid, n, b.Base, ranges(ram))
	}
	nb := (b.Count + 7) / 8
	if len(p) < pagesHeader+nb {
		return PageBatch{}, fmt.Errorf("pages: %w: bitmap needs %d bytes, have %d", ErrTruncated, nb, len(p)-pagesHeader)
	}
	b.Bitmap = p[pagesHeader : pagesHeader+nb]
	if extra := b.Count % 8; extra != 0 && b.Bitmap[nb-1]>>extra != 0 {
		return PageBatch{}, fmt.Errorf("pages: %w: bitmap bits set past page %d", ErrInvalid, b.Count)
	}
	zero := 0
	for _, x := range b.Bitmap {
		zero += bits.OnesCount8(x)
	}
	b.Data = p[pagesHeader+nb:]
	if want := (b.Count - zero) * PageSize; len(b.Data) != want {
		return PageBatch{}, fmt.Errorf("pages: %w: %d non-zero pages need %d bytes, payload has %d", ErrInvalid, b.Count-zero, want, len(b.Data))
	}
	return b, nil
}

// inside says whether [base, base+size) lies inside one of the ranges.
func inside(ram []phys.Range, base, size uint64) bool {
	for _, r := range ram {
		if base >= r.Base && base-r.Base <= r.Size && size <= r.Size-(base-r.Base) {
			return true
		}
	}
	return false
}
