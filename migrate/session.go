// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math"
	"time"

	"github.com/ferry-hv/ferry/internal/wire"
)

// ID names one migration, or one guest: 16 random bytes.
type ID [16]byte

// NewID returns a random ID.
func NewID() ID {
	var id ID
	rand.Read(id[:])
	return id
}

// String is the ID in hex.
func (id ID) String() string { return hex.EncodeToString(id[:]) }

// IsZero reports whether id is all zero (no ID).
func (id ID) IsZero() bool { return id == ID{} }

// ParseID parses 32 hex digits.
func ParseID(s string) (ID, error) {
	var id ID
	if len(s) != 2*len(id) {
		return ID{}, fmt.Errorf("migration id %q: want %d hex digits", s, 2*len(id))
	}
	if _, err := hex.Decode(id[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("migration id %q: %v", s, err)
	}
	if id.IsZero() {
		return ID{}, fmt.Errorf("migration id %q: all zero", s)
	}
	return id, nil
}

// Session binds a stream to one migration of one guest: the migration's
// ID, the guest's ID and its epoch (how many migrations of it were
// committed before this one). Hello carries it; Commit, Resumed, Query
// and Outcome name the migration by its ID.
type Session struct {
	ID    ID
	Guest ID
	Epoch uint64
}

const sessionSize = 16 + 16 + 8

func (s Session) encode(w *wire.Writer) {
	w.Raw(s.ID[:])
	w.Raw(s.Guest[:])
	w.U64(s.Epoch)
}

func decodeSession(r *wire.Reader) Session {
	var s Session
	copy(s.ID[:], r.Raw(len(s.ID)))
	copy(s.Guest[:], r.Raw(len(s.Guest)))
	s.Epoch = r.U64()
	return s
}

// check refuses a session without IDs.
func (s Session) check() error {
	if s.ID.IsZero() || s.Guest.IsZero() {
		return fmt.Errorf("%w: session without a migration or guest ID", ErrInvalid)
	}
	return nil
}

// EncodeHello returns the Hello payload: the fingerprint (see
// Fingerprint.Encode), then the session.
func EncodeHello(f Fingerprint, s Session) ([]byte, error) {
	if err := s.check(); err != nil {
		return nil, fmt.Errorf("hello: %w", err)
	}
	p, err := f.Encode()
	if err != nil {
		return nil, err
	}
	w := wire.Writer{}
	w.Raw(p)
	s.encode(&w)
	return w.Bytes(), nil
}

// DecodeHello decodes a Hello payload: magic, protocol version, and --
// when the version is ProtocolVersion -- the fingerprint and the session
// (see DecodeFingerprint for what is checked). A Hello of another
// protocol version returns a Fingerprint with only Protocol set and no
// session, for Compatible to refuse.
func DecodeHello(p []byte) (Fingerprint, Session, error) {
	r := wire.NewReader(p)
	f, err := decodeFingerprint(r)
	if err != nil || f.Protocol != ProtocolVersion {
		return f, Session{}, err
	}
	s := decodeSession(r)
	if err := r.Done(); err != nil {
		return Fingerprint{}, Session{}, fmt.Errorf("hello: %w", err)
	}
	if err := s.check(); err != nil {
		return Fingerprint{}, Session{}, fmt.Errorf("hello: %w", err)
	}
	return f, s, nil
}

// Verdict is what became of a migration, as one board knows it.
type Verdict uint8

const (
	// Unknown: no decision this board knows of (the migration is not
	// decided yet, or this board never heard of it).
	Unknown Verdict = iota
	// Aborted: the guest stays with the source (and runs on there).
	Aborted
	// Committed: the guest is the destination's.
	Committed
)

func (v Verdict) String() string {
	switch v {
	case Aborted:
		return "aborted"
	case Committed:
		return "committed"
	}
	return "unknown"
}

// encodeID returns the payload of a record that names a migration only
// (Commit, Query).
func encodeID(id ID) []byte { return append([]byte(nil), id[:]...) }

func decodeID(what string, p []byte) (ID, error) {
	var id ID
	r := wire.NewReader(p)
	copy(id[:], r.Raw(len(id)))
	if err := r.Done(); err != nil {
		return ID{}, fmt.Errorf("%s: %w", what, err)
	}
	return id, nil
}

// EncodeOutcome returns an Outcome payload: the migration's ID and the
// verdict the sender knows.
func EncodeOutcome(id ID, v Verdict) []byte {
	var w wire.Writer
	w.Raw(id[:])
	w.U8(uint8(v))
	return w.Bytes()
}

// DecodeOutcome decodes an Outcome payload.
func DecodeOutcome(p []byte) (ID, Verdict, error) {
	var id ID
	r := wire.NewReader(p)
	copy(id[:], r.Raw(len(id)))
	v := Verdict(r.U8())
	if err := r.Done(); err != nil {
		return ID{}, 0, fmt.Errorf("outcome: %w", err)
	}
	if v > Committed {
		return ID{}, 0, fmt.Errorf("outcome: %w: verdict %d", ErrInvalid, v)
	}
	return id, v, nil
}

// EncodeResumed returns a Resumed payload: the migration's ID, the
// destination's restore time (End received to Ack sent: digest check and
// state restore) and resume time (Commit received to the guest resumed),
// in nanoseconds.
func EncodeResumed(id ID, restore, resume time.Duration) []byte {
	var w wire.Writer
	w.Raw(id[:])
	w.U64(uint64(max(restore, 0)))
	w.U64(uint64(max(resume, 0)))
	return w.Bytes()
}

// DecodeResumed decodes a Resumed payload.
func DecodeResumed(p []byte) (id ID, restore, resume time.Duration, err error) {
	r := wire.NewReader(p)
	copy(id[:], r.Raw(len(id)))
	a, b := r.U64(), r.U64()
	if err := r.Done(); err != nil {
		return ID{}, 0, 0, fmt.Errorf("resumed: %w", err)
	}
	if a > math.MaxInt64 || b > math.MaxInt64 {
		return ID{}, 0, 0, fmt.Errorf("resumed: %w: times %d and %d ns", ErrInvalid, a, b)
	}
	return id, time.Duration(a), time.Duration(b), nil
}
