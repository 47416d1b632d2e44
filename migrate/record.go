// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/ferry-hv/ferry/internal/wire"
)

// RecordType says what a record carries.
type RecordType uint16

// Record types. The numbers are part of the wire format: never reuse one.
const (
	TypeHello      RecordType = 1  // S→D: magic, protocol version, Fingerprint
	TypeHelloReply RecordType = 2  // D→S: accepted, or refused with a reason
	TypePages      RecordType = 3  // S→D: up to PagesPerRecord pages of guest RAM
	TypeState      RecordType = 4  // S→D: one named piece of machine state
	TypeEnd        RecordType = 5  // S→D: the stream digest
	TypeAck        RecordType = 6  // D→S: verified and restored
	TypeCommit     RecordType = 7  // S→D: the migration (ID) is committed: resume the guest
	TypeResumed    RecordType = 8  // D→S: the guest of migration ID runs here; restore and resume times
	TypeAbort      RecordType = 9  // either way: a reason; the migration is off
	TypeRound      RecordType = 10 // S→D: pre-copy round n >= 1 begins: its page count, stopped or not
	TypeDirty      RecordType = 11 // S→D: up to DirtyPerRecord pages of a round, by address
	TypeSync       RecordType = 12 // S→D: between rounds, before the stop: say when all before it is written
	TypeSynced     RecordType = 13 // D→S: everything before Sync is written
	TypeQuery      RecordType = 14 // D→S, first on a new connection: what became of migration ID?
	TypeOutcome    RecordType = 15 // either way: migration ID's verdict, as the sender knows it
)

// HeaderSize is the size of a record header: type u16, version u16,
// length u32.
const HeaderSize = 8

// Payload limits (bytes) of the variable-size records.
const (
	// MaxReason is the longest reason an Abort or a refusing HelloReply
	// carries; longer reasons are cut when encoded.
	MaxReason = 512
	// MaxStateName and MaxStateData bound one State record.
	MaxStateName = 32
	MaxStateData = 256 << 10
	// MaxStates is how many State records one stream may carry.
	MaxStates = 32
)

type recordInfo struct {
	name    string
	version uint16 // the layout this side writes and reads
	max     int    // payload cap
}

// records is the table of known record types: name, version and length cap.
var records = map[RecordType]recordInfo{
	TypeHello:      {"Hello", 1, maxHello},
	TypeHelloReply: {"HelloReply", 1, 1 + 4 + MaxReason},
	TypePages:      {"Pages", 1, maxPages},
	TypeState:      {"State", 1, 4 + MaxStateName + 2 + 4 + MaxStateData},
	TypeEnd:        {"End", 2, DigestSize},
	TypeAck:        {"Ack", 1, 0},
	TypeCommit:     {"Commit", 2, 16},
	TypeResumed:    {"Resumed", 2, 16 + 16},
	TypeAbort:      {"Abort", 1, 4 + MaxReason},
	TypeRound:      {"Round", 1, roundSize},
	TypeDirty:      {"Dirty", 1, maxDirty},
	TypeSync:       {"Sync", 1, 0},
	TypeSynced:     {"Synced", 1, 0},
	TypeQuery:      {"Query", 1, 16},
	TypeOutcome:    {"Outcome", 1, 16 + 1},
}

func (t RecordType) String() string {
	if i, ok := records[t]; ok {
		return i.name
	}
	return fmt.Sprintf("type %#04x", uint16(t))
}

// Version is the record layout version this side writes and reads for t
// (0 for an unknown type).
func (t RecordType) Version() uint16 { return records[t].version }

// MaxPayload is the largest payload a record of type t may carry (0 for an
// unknown type).
func MaxPayload(t RecordType) int { return records[t].max }

// Errors of the stream, wrapped with what and where; test with errors.Is.
var (
	ErrUnknownType  = errors.New("unknown record type")
	ErrTooLong      = errors.New("record over its length limit")
	ErrTruncated    = wire.ErrShort // the input ended inside a record or a field
	ErrVersion      = errors.New("unsupported record version")
	ErrMagic        = errors.New("not a Ferry migration stream (bad magic)")
	ErrDigest       = errors.New("digest mismatch")
	ErrVerify       = errors.New("guest RAM does not hold the stream")
	ErrIncompatible = errors.New("incompatible machines")
	ErrRefused      = errors.New("refused by the destination")
	ErrAborted      = errors.New("aborted by the peer")
	ErrProtocol     = errors.New("protocol error")
	ErrInvalid      = errors.New("invalid field")
)

// Record is one unit of the stream.
type Record struct {
	Type    RecordType
	Version uint16
	Payload []byte
}

// check refuses a header this side cannot read, before the payload is read.
func checkHeader(t RecordType, version uint16, n uint64) error {
	info, ok := records[t]
	if !ok {
		return fmt.Errorf("%w %#04x", ErrUnknownType, uint16(t))
	}
	if n > uint64(info.max) {
		return fmt.Errorf("%w: %v record of %d bytes, limit %d", ErrTooLong, t, n, info.max)
	}
	if version != info.version {
		return fmt.Errorf("%w: %v record version %d, this side reads version %d", ErrVersion, t, version, info.version)
	}
	return nil
}

func appendHeader(b []byte, t RecordType, version uint16, n int) []byte {
	b = binary.LittleEndian.AppendUint16(b, uint16(t))
	b = binary.LittleEndian.AppendUint16(b, version)
	return binary.LittleEndian.AppendUint32(b, uint32(n))
}

func writeRecord(w io.Writer, t RecordType, version uint16, payload []byte) error {
	var h [HeaderSize]byte
	if _, err := w.Write(appendHeader(h[:0], t, version, len(payload))); err != nil {
		return err
	}
	if len(payload) == 0 {
		return nil
	}
	_, err := w.Write(payload)
	return err
}

// ReadRecord reads one record from r. The header is checked (known type,
// length within that type's cap, supported version) before the payload is
// allocated or read. If buf is large enough the payload is read into it
// (and aliases it); otherwise a new slice is allocated.
//
// A stream that ends inside the record gives an error wrapping
// ErrTruncated; an error from r is wrapped as it is.
func ReadRecord(r io.Reader, buf []byte) (Record, error) {
	var h [HeaderSize]byte
	if err := readFull(r, h[:], "record header"); err != nil {
		return Record{}, err
	}
	t := RecordType(binary.LittleEndian.Uint16(h[0:]))
	version := binary.LittleEndian.Uint16(h[2:])
	n := binary.LittleEndian.Uint32(h[4:])
	if err := checkHeader(t, version, uint64(n)); err != nil {
		return Record{}, err
	}
	var p []byte
	if cap(buf) >= int(n) {
		p = buf[:n]
	} else {
		p = make([]byte, n)
	}
	if err := readFull(r, p, t.String()+" payload"); err != nil {
		return Record{}, err
	}
	return Record{Type: t, Version: version, Payload: p}, nil
}

func readFull(r io.Reader, p []byte, what string) error {
	k, err := io.ReadFull(r, p)
	switch {
	case err == nil:
		return nil
	case k == 0 && errors.Is(err, io.EOF):
		return fmt.Errorf("%w: the stream ended (connection closed) before the %s", ErrTruncated, what)
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return fmt.Errorf("%w: %s: got %d of %d bytes", ErrTruncated, what, k, len(p))
	default:
		return fmt.Errorf("reading %s: %w", what, err)
	}
}
