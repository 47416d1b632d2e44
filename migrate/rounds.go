// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"encoding/binary"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"math/bits"
)

// DirtyPerRecord is the most pages one Dirty record carries.
const DirtyPerRecord = 512

// Round record payload: round u32 | pages u64 | stopped u8.
const roundSize = 4 + 8 + 1

// maxDirty is the Dirty cap: a full record with no zero page.
const maxDirty = 2 + DirtyPerRecord*8 + DirtyPerRecord/8 + DirtyPerRecord*PageSize

// RoundHeader opens pre-copy round N >= 1: it will carry exactly Pages
// pages in Dirty records, and Stopped says the guest is stopped (the last
// round: only the machine state and End may follow).
type RoundHeader struct {
	N       uint32
	Pages   uint64
	Stopped bool
}

// Encode returns the Round payload.
func (h RoundHeader) Encode() []byte {
	b := binary.LittleEndian.AppendUint32(nil, h.N)
	b = binary.LittleEndian.AppendUint64(b, h.Pages)
	if h.Stopped {
		return append(b, 1)
	}
	return append(b, 0)
}

// DecodeRound decodes a Round payload. The round number and page count are
// only checked for form here; the receiver checks them against the stream.
func DecodeRound(p []byte) (RoundHeader, error) {
	if len(p) != roundSize {
		return RoundHeader{}, fmt.Errorf("round: %w: %d bytes, want %d", ErrInvalid, len(p), roundSize)
	}
	h := RoundHeader{N: binary.LittleEndian.Uint32(p), Pages: binary.LittleEndian.Uint64(p[4:])}
	switch p[12] {
	case 0:
	case 1:
		h.Stopped = true
	default:
		return RoundHeader{}, fmt.Errorf("round: %w: stopped flag %d", ErrInvalid, p[12])
	}
	if h.N == 0 {
		return RoundHeader{}, fmt.Errorf("round: %w: round 0 is sent as Pages records", ErrInvalid)
	}
	return h, nil
}

// EncodeDirty appends to dst the payload of a Dirty record for the pages
// at ipas (ascending, 1 to DirtyPerRecord of them): count u16 | count IPAs
// u64 | count-bit zero bitmap | the contents of the non-zero pages, in
// order. zero is how many pages were zero.
func EncodeDirty(dst []byte, ipas []uint64, v PageViewer) (payload []byte, zero int, err error) {
	n := len(ipas)
	if n < 1 || n > DirtyPerRecord {
		return dst, 0, fmt.Errorf("%w: dirty page count %d, want 1 to %d", ErrInvalid, n, DirtyPerRecord)
	}
	dst = binary.LittleEndian.AppendUint16(dst, uint16(n))
	for i, ipa := range ipas {
		if ipa%PageSize != 0 || i > 0 && ipa <= ipas[i-1] {
			return dst, 0, fmt.Errorf("%w: dirty page %#x not aligned or not ascending", ErrInvalid, ipa)
		}
		dst = binary.LittleEndian.AppendUint64(dst, ipa)
	}
	dst, zero = appendContents(dst, n, func(i int) []byte { return v.PageView(ipas[i]) })
	return dst, zero, nil
}

// DirtyBatch is a decoded Dirty record. Its slices alias the payload.
type DirtyBatch struct {
	IPAs   []uint64
	Bitmap []byte // bit i set: page i is zero
	Data   []byte // the non-zero pages, in order
}

// All yields each page's IPA and contents, nil for a zero page.
func (b DirtyBatch) All(yield func(uint64, []byte) bool) {
	data := b.Data
	for i, ipa := range b.IPAs {
		var p []byte
		if b.Bitmap[i/8]>>(i%8)&1 == 0 {
			p, data = data[:PageSize:PageSize], data[PageSize:]
		}
		if !yield(ipa, p) {
			return
		}
	}
}

// DecodeDirty decodes a Dirty payload and checks it against guest RAM:
// the count is 1 to DirtyPerRecord, every IPA page-aligned, inside RAM and
// above the one before it (and above after, the last IPA of the previous
// record of the round, 0 for none: a page appears once per round), the
// bitmap's padding clear, and exactly as many page contents as non-zero
// pages.
func DecodeDirty(p []byte, ram []phys.Range, after uint64, first bool) (DirtyBatch, error) {
	if len(p) < 2 {
		return DirtyBatch{}, fmt.Errorf("dirty: %w: header needs 2 bytes, have %d", ErrTruncated, len(p))
	}
	n := int(binary.LittleEndian.Uint16(p))
	if n < 1 || n > DirtyPerRecord {
		return DirtyBatch{}, fmt.Errorf("dirty: %w: count %d, want 1 to %d", ErrInvalid, n, DirtyPerRecord)
	}
	nb := (n + 7) / 8
	if len(p) < 2+8*n+nb {
		return DirtyBatch{}, fmt.Errorf("dirty: %w: %d pages need %d bytes of addresses and bitmap, have %d", ErrTruncated, n, 8*n+nb, len(p)-2)
	}
	b := DirtyBatch{IPAs: make([]uint64, n)}
	for i := range n {
		ipa := binary.LittleEndian.Uint64(p[2+8*i:])
		switch {
		case ipa%PageSize != 0:
			return DirtyBatch{}, fmt.Errorf("dirty: %w: page %#x not %d-byte aligned", ErrInvalid, ipa, PageSize)
		case !inside(ram, ipa, PageSize):
			return DirtyBatch{}, fmt.Errorf("dirty: %w: page %#x not inside guest RAM %s", ErrInvalid, ipa, ranges(ram))
		case (i > 0 || !first) && ipa <= after:
			return DirtyBatch{}, fmt.Errorf("dirty: %w: page %#x after %#x: pages out of order or sent twice in a round", ErrProtocol, ipa, after)
		}
		b.IPAs[i], after, first = ipa, ipa, false
	}
	b.Bitmap = p[2+8*n : 2+8*n+nb]
	if extra := n % 8; extra != 0 && b.Bitmap[nb-1]>>extra != 0 {
		return DirtyBatch{}, fmt.Errorf("dirty: %w: bitmap bits set past page %d", ErrInvalid, n)
	}
	zero := 0
	for _, x := range b.Bitmap {
		zero += bits.OnesCount8(x)
	}
	b.Data = p[2+8*n+nb:]
	if want := (n - zero) * PageSize; len(b.Data) != want {
		return DirtyBatch{}, fmt.Errorf("dirty: %w: %d non-zero pages need %d bytes, payload has %d", ErrInvalid, n-zero, want, len(b.Data))
	}
	return b, nil
}
