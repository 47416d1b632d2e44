// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"encoding/binary"
	"github.com/ferry-hv/ferry/phys"
	"hash"
	"hash/crc32"
	"io"
	"testing"
)

// script plays one side of the protocol by hand, record by record, with
// its own digest (everything the source sends from Hello up to End), so
// the engine is tested against the definition, not against itself. Errors
// are sticky: check err at the end.
type script struct {
	rw   io.ReadWriter
	sum  hash.Hash32
	err  error
	sess Session // what hello sends
}

func newScript(rw io.ReadWriter) *script {
	return &script{rw: rw, sum: crc32.New(crc32.MakeTable(crc32.Castagnoli)), sess: testSession()}
}

func (s *script) raw(p []byte) {
	if s.err == nil {
		_, s.err = s.rw.Write(p)
	}
}

func (s *script) send(_ testing.TB, t RecordType, p []byte) {
	if s.err != nil {
		return
	}
	switch t {
	case TypeHello, TypePages, TypeRound, TypeDirty, TypeSync, TypeState:
		s.sum.Write(appendHeader(nil, t, t.Version(), len(p)))
		s.sum.Write(p)
	}
	s.err = WriteRecord(s.rw, Record{t, t.Version(), p})
}

func (s *script) hello(tb testing.TB, fp Fingerprint) {
	fp.Protocol = ProtocolVersion
	p, err := EncodeHello(fp, s.sess)
	if err != nil && s.err == nil {
		s.err = err
	}
	s.send(tb, TypeHello, p)
}

// commit sends Commit for the script's session.
func (s *script) commit(tb testing.TB) { s.send(tb, TypeCommit, encodeID(s.sess.ID)) }

func (s *script) end(tb testing.TB) {
	s.send(tb, TypeEnd, binary.LittleEndian.AppendUint32(nil, s.sum.Sum32()))
}

// stopped sends an empty stopped round n.
func (s *script) stopped(tb testing.TB, n uint32) {
	s.send(tb, TypeRound, RoundHeader{N: n, Stopped: true}.Encode())
}

func (s *script) read() Record {
	if s.err != nil {
		return Record{}
	}
	r, err := ReadRecord(s.rw, nil)
	s.err = err
	return r
}

// pages sends every page of fp's RAM, patterned.
func (s *script) pages(tb testing.TB, ram []phys.Range) {
	for _, r := range ram {
		for off := uint64(0); off < r.Size; off += PagesPerRecord * PageSize {
			n := int(min((r.Size-off)/PageSize, PagesPerRecord))
			p, _, _ := EncodePages(nil, r.Base+off, n, patterned)
			s.send(tb, TypePages, p)
		}
	}
}

// testSession is a session scripts and fixed streams carry.
func testSession() Session {
	return Session{ID: ID{0xf0, 1}, Guest: ID{0x6e, 2}, Epoch: 3}
}
