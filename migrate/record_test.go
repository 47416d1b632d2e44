// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"
)

func header(t RecordType, version uint16, n uint32) []byte {
	return appendHeader(nil, t, version, int(n))
}

func TestRecordRoundTrip(t *testing.T) {
	hello, err := EncodeHello(testFingerprint(), testSession())
	if err != nil {
		t.Fatal(err)
	}
	state, _ := testStates()[0].Encode()
	pages, _, _ := EncodePages(nil, 0x4000_0000, 3, func(ipa uint64, p []byte) { p[0] = byte(ipa >> 12) })
	recs := []Record{
		{TypeHello, 1, hello},
		{TypeHelloReply, 1, EncodeHelloReply(false, "no")},
		{TypePages, 1, pages},
		{TypeState, 1, state},
		{TypeEnd, 2, make([]byte, DigestSize)},
		{TypeRound, 1, RoundHeader{N: 3, Pages: 12, Stopped: true}.Encode()},
		{TypeDirty, 1, dirtyAt(0x4000_0000, 0x4000_3000)},
		{TypeSync, 1, nil},
		{TypeSynced, 1, nil},
		{TypeAck, 1, nil},
		{TypeCommit, 2, encodeID(testSession().ID)},
		{TypeResumed, 2, EncodeResumed(testSession().ID, time.Millisecond, time.Microsecond)},
		{TypeQuery, 1, encodeID(testSession().ID)},
		{TypeOutcome, 1, EncodeOutcome(testSession().ID, Committed)},
		{TypeAbort, 1, EncodeAbort("digest mismatch")},
	}
	var buf bytes.Buffer
	for _, r := range recs {
		if err := WriteRecord(&buf, r); err != nil {
			t.Fatalf("%v: %v", r.Type, err)
		}
	}
	for _, want := range recs {
		got, err := ReadRecord(&buf, nil)
		if err != nil {
			t.Fatalf("%v: %v", want.Type, err)
		}
		if got.Type != want.Type || got.Version != want.Version || !bytes.Equal(got.Payload, want.Payload) {
			t.Fatalf("got %v v%d %d bytes, want %v v%d %d bytes", got.Type, got.Version, len(got.Payload), want.Type, want.Version, len(want.Payload))
		}
	}
	if _, err := ReadRecord(&buf, nil); !errors.Is(err, ErrTruncated) {
		t.Fatalf("read past the end: %v, want ErrTruncated", err)
	}
}

func TestRecordIntoBuffer(t *testing.T) {
	var b bytes.Buffer
	WriteRecord(&b, Record{TypeAbort, 1, EncodeAbort("x")})
	buf := make([]byte, 0, 64)
	r, err := ReadRecord(&b, buf)
	if err != nil {
		t.Fatal(err)
	}
	if &r.Payload[:1][0] != &buf[:1][0] {
		t.Fatal("payload not read into the buffer given")
	}
}

func TestTypeNumbersAndCaps(t *testing.T) {
	// The numbers and caps are the wire format: a change here is a new
	// protocol version.
	want := map[RecordType]int{
		TypeHello:      45134, // 41034 + the CPUs (4 + 512*8), protocol 5
		TypeHelloReply: 517,
		TypePages:      2097228,
		TypeState:      262186,
		TypeEnd:        4,
		TypeAck:        0,
		TypeCommit:     16,
		TypeResumed:    32,
		TypeQuery:      16,
		TypeOutcome:    17,
		TypeAbort:      516,
		TypeRound:      13,
		TypeDirty:      2101314,
		TypeSync:       0,
		TypeSynced:     0,
	}
	for typ, n := range want {
		if MaxPayload(typ) != n {
			t.Errorf("%v (%d): cap %d, want %d", typ, typ, MaxPayload(typ), n)
		}
	}
	if len(records) != len(want) {
		t.Errorf("%d record types, want %d", len(records), len(want))
	}
	if TypeHello != 1 || TypeAbort != 9 || TypeRound != 10 || TypeDirty != 11 || TypeSync != 12 || TypeSynced != 13 {
		t.Error("record type numbers moved")
	}
}

func TestReadRecordUnknownType(t *testing.T) {
	_, err := ReadRecord(bytes.NewReader(header(0xff, 1, 0)), nil)
	if !errors.Is(err, ErrUnknownType) || !strings.Contains(err.Error(), "0x00ff") {
		t.Fatalf("got %v, want ErrUnknownType naming 0x00ff", err)
	}
	if _, err := ReadRecord(bytes.NewReader(header(0, 1, 0)), nil); !errors.Is(err, ErrUnknownType) {
		t.Fatalf("type 0: %v", err)
	}
}

// headerOnly gives the header and fails the test if more is read.
type headerOnly struct {
	t *testing.T
	b []byte
}

func (h *headerOnly) Read(p []byte) (int, error) {
	if len(h.b) == 0 {
		h.t.Fatal("payload read after an oversize header")
	}
	n := copy(p, h.b)
	h.b = h.b[n:]
	return n, nil
}

func TestReadRecordOversize(t *testing.T) {
	for typ := range records {
		n := uint32(MaxPayload(typ) + 1)
		_, err := ReadRecord(&headerOnly{t, header(typ, 1, n)}, nil)
		if !errors.Is(err, ErrTooLong) {
			t.Fatalf("%v: %v, want ErrTooLong", typ, err)
		}
		for _, s := range []string{typ.String(), strconv.Itoa(int(n)), strconv.Itoa(MaxPayload(typ))} {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("%v: %q does not name %s", typ, err, s)
			}
		}
	}
	_, err := ReadRecord(&headerOnly{t, header(TypePages, 1, 0xffffffff)}, nil)
	if !errors.Is(err, ErrTooLong) {
		t.Fatal(err)
	}
}

func TestReadRecordBadVersion(t *testing.T) {
	_, err := ReadRecord(bytes.NewReader(header(TypeAck, 2, 0)), nil)
	if !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("got %v, want ErrVersion naming version 2", err)
	}
	if err := WriteRecord(io.Discard, Record{TypeAck, 2, nil}); !errors.Is(err, ErrVersion) {
		t.Fatalf("write: %v", err)
	}
}

func TestReadRecordTruncated(t *testing.T) {
	var b bytes.Buffer
	WriteRecord(&b, Record{TypeAbort, 1, EncodeAbort("reason")})
	full := b.Bytes()
	for n := range len(full) {
		_, err := ReadRecord(bytes.NewReader(full[:n]), nil)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: %v, want ErrTruncated", n, len(full), err)
		}
	}
}

type failing struct{}

func (failing) Read([]byte) (int, error)  { return 0, errors.New("link down") }
func (failing) Write([]byte) (int, error) { return 0, errors.New("link down") }

func TestReadRecordReaderError(t *testing.T) {
	_, err := ReadRecord(failing{}, nil)
	if err == nil || errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "link down") {
		t.Fatalf("got %v", err)
	}
}

func TestWriteRecordRefuses(t *testing.T) {
	if err := WriteRecord(io.Discard, Record{Type: 77, Version: 1}); !errors.Is(err, ErrUnknownType) {
		t.Error(err)
	}
	if err := WriteRecord(io.Discard, Record{TypeEnd, 1, make([]byte, 33)}); !errors.Is(err, ErrTooLong) {
		t.Error(err)
	}
}

func TestMessages(t *testing.T) {
	ok, why, err := DecodeHelloReply(EncodeHelloReply(true, "ignored"))
	if err != nil || !ok || why != "" {
		t.Fatal(ok, why, err)
	}
	ok, why, err = DecodeHelloReply(EncodeHelloReply(false, "MIDR differs"))
	if err != nil || ok || why != "MIDR differs" {
		t.Fatal(ok, why, err)
	}
	bad := EncodeHelloReply(false, "x")
	bad[0] = 2
	if _, _, err := DecodeHelloReply(bad); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	long := strings.Repeat("é", MaxReason)
	got, err := DecodeAbort(EncodeAbort(long))
	if err != nil || len(got) > MaxReason || !strings.HasPrefix(long, got) {
		t.Fatalf("long reason: %d bytes, %v", len(got), err)
	}
	if _, err := DecodeAbort(append(EncodeAbort("x"), 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	id := testSession().ID
	gotID, a, b, err := DecodeResumed(EncodeResumed(id, 3*time.Millisecond, 5*time.Microsecond))
	if err != nil || gotID != id || a != 3*time.Millisecond || b != 5*time.Microsecond {
		t.Fatal(gotID, a, b, err)
	}
	huge := binary.LittleEndian.AppendUint64(binary.LittleEndian.AppendUint64(id[:], 1<<63), 0)
	if _, _, _, err := DecodeResumed(huge); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	for _, v := range []Verdict{Unknown, Aborted, Committed} {
		if gotID, got, err := DecodeOutcome(EncodeOutcome(id, v)); err != nil || gotID != id || got != v {
			t.Fatal(v, gotID, got, err)
		}
	}
	if _, _, err := DecodeOutcome(append(id[:], 3)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("verdict 3: %v", err)
	}
	if _, err := decodeID("commit", id[:15]); !errors.Is(err, ErrTruncated) {
		t.Fatalf("short id: %v", err)
	}
}

func TestStateCodec(t *testing.T) {
	for _, s := range testStates() {
		p, err := s.Encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeState(p)
		if err != nil {
			t.Fatal(err)
		}
		if got.Name != s.Name || got.Version != s.Version || !bytes.Equal(got.Data, s.Data) {
			t.Fatalf("got %+v, want %+v", got, s)
		}
		if len(p) > MaxPayload(TypeState) {
			t.Fatal("over the cap")
		}
	}
	for _, s := range []State{
		{Name: ""},
		{Name: "has space"},
		{Name: strings.Repeat("n", MaxStateName+1)},
		{Name: "big", Data: make([]byte, MaxStateData+1)},
	} {
		if _, err := s.Encode(); err == nil {
			t.Errorf("%q (%d bytes) encoded", s.Name, len(s.Data))
		}
	}
	p, _ := State{Name: "cpu"}.Encode()
	if _, err := DecodeState(append(p, 1)); err == nil {
		t.Error("trailing byte accepted")
	}
	max, _ := State{Name: strings.Repeat("n", MaxStateName), Data: make([]byte, MaxStateData)}.Encode()
	if len(max) != MaxPayload(TypeState) {
		t.Errorf("largest state %d bytes, cap %d", len(max), MaxPayload(TypeState))
	}
}
