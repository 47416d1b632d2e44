// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"fmt"
	"io"
)

// Encoders the tests use to build streams by hand, hostile ones included;
// Ferry itself writes through Stream and EncodePagesView.

// EncodePages appends to dst the payload of a Pages record for the count
// pages from IPA base: base u64 | count u32 | count-bit zero bitmap
// (bit i of byte i/8 set: page i is all zeros) | the contents of the
// non-zero pages, in order. read copies one page into the buffer it is
// given. zero is how many pages were zero.
func EncodePages(dst []byte, base uint64, count int, read func(ipa uint64, page []byte)) (payload []byte, zero int, err error) {
	if count < 1 || count > PagesPerRecord {
		return dst, 0, fmt.Errorf("%w: page count %d, want 1 to %d", ErrInvalid, count, PagesPerRecord)
	}
	if base%PageSize != 0 || base+uint64(count)*PageSize < base {
		return dst, 0, fmt.Errorf("%w: pages base %#x count %d", ErrInvalid, base, count)
	}
	var scratch [PageSize]byte
	return encodePages(dst, base, count, func(ipa uint64) []byte {
		clear(scratch[:])
		read(ipa, scratch[:])
		return scratch[:]
	})
}

// WriteRecord writes r to w. It refuses (and writes nothing) a record this
// side could not read back: unknown type, other version, payload over the
// type's cap.
func WriteRecord(w io.Writer, r Record) error {
	if err := checkHeader(r.Type, r.Version, uint64(len(r.Payload))); err != nil {
		return fmt.Errorf("writing record: %w", err)
	}
	return writeRecord(w, r.Type, r.Version, r.Payload)
}
