// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/phys"
)

// The decoders take hostile bytes: they must return an error, never panic,
// and whatever they accept must encode back to the same bytes.

func FuzzReadRecord(f *testing.F) {
	var b bytes.Buffer
	WriteRecord(&b, Record{TypeAbort, 1, EncodeAbort("x")})
	f.Add(b.Bytes())
	f.Add(header(TypePages, 1, 0xffffffff))
	f.Add(header(TypeAck, 1, 0))
	f.Add(header(0xffff, 0xffff, 1))
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ReadRecord(bytes.NewReader(in), nil)
		if err != nil {
			return
		}
		var out bytes.Buffer
		if err := WriteRecord(&out, r); err != nil {
			t.Fatalf("accepted record does not write back: %v", err)
		}
		if !bytes.HasPrefix(in, out.Bytes()) {
			t.Fatal("record does not write back to its input")
		}
	})
}

func FuzzDecodePages(f *testing.F) {
	p, _, _ := EncodePages(nil, 0x4000_3000, 13, patterned)
	f.Add(p)
	p, _, _ = EncodePages(nil, 0x8000_1000, 7, func(uint64, []byte) {})
	f.Add(p)
	f.Add(pagesPayload(0x8000_7000, 2, []byte{3}, 0))
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := DecodePages(in, pagesRAM)
		if err != nil {
			return
		}
		if !inside(pagesRAM, b.Base, uint64(b.Count)*PageSize) {
			t.Fatalf("accepted pages outside RAM: %#x+%d", b.Base, b.Count)
		}
		pages := map[uint64][]byte{}
		for ipa, data := range b.All() {
			if data != nil && len(data) != PageSize {
				t.Fatalf("page of %d bytes", len(data))
			}
			pages[ipa] = data
		}
		out, _, err := EncodePages(nil, b.Base, b.Count, func(ipa uint64, p []byte) { copy(p, pages[ipa]) })
		if err != nil {
			t.Fatal(err)
		}
		// A data page of zeros is re-encoded as a zero page; otherwise the
		// encoding is the input.
		if !bytes.Equal(out, in) {
			for _, d := range pages {
				if d != nil && bytes.Equal(d, zeroPage[:]) {
					return
				}
			}
			t.Fatal("pages do not encode back to their input")
		}
	})
}

func FuzzDecodeHello(f *testing.F) {
	fp := testFingerprint()
	fp.Protocol = ProtocolVersion
	p, _ := EncodeHello(fp, testSession())
	f.Add(p)
	f.Add(rawHello{features: []string{"B", "A"}, ram: []phys.Range{{0, PageSize}}}.bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		fp, sess, err := DecodeHello(in)
		if err != nil || fp.Protocol != ProtocolVersion {
			return
		}
		out, err := EncodeHello(fp, sess)
		if err != nil {
			t.Fatalf("accepted fingerprint does not encode: %v", err)
		}
		if !bytes.Equal(out, in) {
			t.Fatal("fingerprint does not encode back to its input")
		}
		_ = Compatible(fp, fp)
	})
}

func FuzzDecodeState(f *testing.F) {
	p, _ := testStates()[0].Encode()
	f.Add(p)
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := DecodeState(in)
		if err != nil {
			return
		}
		out, err := s.Encode()
		if err != nil || !bytes.Equal(out, in) {
			t.Fatalf("state does not encode back: %v", err)
		}
	})
}

// fuzzConn feeds the fuzzer's bytes to Receive and swallows its replies.
type fuzzConn struct{ io.Reader }

func (fuzzConn) Write(p []byte) (int, error) { return len(p), nil }

// FuzzReceive runs the whole destination over arbitrary streams: it must
// end with an error or a verified guest, never panic, never write outside
// guest RAM, never resume without a verified stream and Commit.
func FuzzReceive(f *testing.F) {
	fp := Fingerprint{MIDR: 1, PageSize: PageSize, RAM: []phys.Range{{0x4000_0000, 3 * PageSize}}}
	f.Add(validStream(f, fp, true))
	f.Add(validStream(f, fp, false))
	f.Fuzz(func(t *testing.T, in []byte) {
		dst := &fakeSink{fp: fp, mem: newMemory(fp.RAM, 0xaa)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Receive(ctx, fuzzConn{bytes.NewReader(in)}, dst)
		if dst.outside != 0 {
			t.Fatal("wrote outside guest RAM")
		}
		if err == nil && (dst.resumes != 1 || dst.restores != 1) {
			t.Fatal("accepted without restore and resume")
		}
		if err != nil && dst.resumes != 0 {
			t.Fatal("resumed on a failed stream")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("hung")
		}
	})
}

// FuzzReceiveDigest is FuzzReceive with End's digest recomputed over the
// mutated stream (withDigest), so that mutations before End get past
// the digest to End's own checks (the stopped round complete), the
// restore and the commit: the same rules hold.
func FuzzReceiveDigest(f *testing.F) {
	fp := Fingerprint{MIDR: 1, PageSize: PageSize, RAM: []phys.Range{{0x4000_0000, 3 * PageSize}}}
	f.Add(validStream(f, fp, true))
	f.Add(validStream(f, fp, false))
	var b bytes.Buffer
	sc := newScript(&b) // End before the stopped round: refused by End's own check
	sc.hello(f, fp)
	sc.pages(f, fp.RAM)
	sc.end(f)
	sc.commit(f)
	f.Add(b.Bytes())
	f.Fuzz(func(t *testing.T, in []byte) {
		in = withDigest(in)
		dst := &fakeSink{fp: fp, mem: newMemory(fp.RAM, 0xaa)}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := Receive(ctx, fuzzConn{bytes.NewReader(in)}, dst)
		if dst.outside != 0 {
			t.Fatal("wrote outside guest RAM")
		}
		if dst.restores > 1 || dst.resumes > 1 {
			t.Fatalf("%d restores, %d resumes", dst.restores, dst.resumes)
		}
		if err == nil && (dst.resumes != 1 || dst.restores != 1) {
			t.Fatal("accepted without restore and resume")
		}
		if err != nil && dst.resumes != 0 {
			t.Fatal("resumed on a failed stream")
		}
		if dst.resumes == 1 && dst.discards != 0 {
			t.Fatal("discarded a resumed guest")
		}
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatal("hung")
		}
	})
}

// withDigest returns in with every End record's payload replaced by the
// CRC32C of the digested records before it, as a source computes it; what
// does not parse as records is left as it is.
func withDigest(in []byte) []byte {
	var out bytes.Buffer
	sum := crc32.New(castagnoli)
	r := bytes.NewReader(in)
	for r.Len() > 0 {
		off := len(in) - r.Len()
		rec, err := ReadRecord(r, nil)
		if err != nil {
			out.Write(in[off:])
			break
		}
		switch {
		case rec.Type == TypeEnd:
			rec.Payload = binary.LittleEndian.AppendUint32(nil, sum.Sum32())
		case inDigest(rec.Type):
			sum.Write(appendHeader(nil, rec.Type, rec.Version, len(rec.Payload)))
			sum.Write(rec.Payload)
		}
		WriteRecord(&out, rec)
	}
	return out.Bytes()
}

// validStream is what a source sends for fp: Hello, round 0, a round of
// two dirty pages, the stopped round with one, one state, End and (if
// commit) Commit.
func validStream(tb testing.TB, fp Fingerprint, commit bool) []byte {
	var b bytes.Buffer
	sc := newScript(&b)
	sc.hello(tb, fp)
	sc.pages(tb, fp.RAM)
	base := fp.RAM[0].Base
	sc.send(tb, TypeRound, RoundHeader{N: 1, Pages: 2}.Encode())
	sc.send(tb, TypeDirty, dirtyAt(base, base+2*PageSize))
	sc.send(tb, TypeSync, nil)
	sc.send(tb, TypeRound, RoundHeader{N: 2, Pages: 1, Stopped: true}.Encode())
	sc.send(tb, TypeDirty, dirtyRaw([]uint64{base + PageSize}))
	st, _ := State{Name: "cpu", Version: 1, Data: []byte{1, 2, 3}}.Encode()
	sc.send(tb, TypeState, st)
	sc.end(tb)
	if commit {
		sc.commit(tb)
	}
	if sc.err != nil {
		tb.Fatal(sc.err)
	}
	return b.Bytes()
}

func FuzzDecodeRound(f *testing.F) {
	f.Add(RoundHeader{N: 1, Pages: 7}.Encode())
	f.Add(RoundHeader{N: 9, Pages: 0, Stopped: true}.Encode())
	f.Fuzz(func(t *testing.T, p []byte) {
		h, err := DecodeRound(p)
		if err != nil {
			return
		}
		if h.N == 0 || !bytes.Equal(h.Encode(), p) {
			t.Fatalf("%+v does not re-encode to %x", h, p)
		}
	})
}

func FuzzDecodeDirty(f *testing.F) {
	ram := []phys.Range{{0x4000_0000, 4 * PageSize}, {0x8000_0000, 2 * PageSize}}
	f.Add(dirtyAt(0x4000_0000, 0x8000_1000), uint64(0), true)
	f.Add(dirtyRaw([]uint64{0x4000_1000, 0x4000_3000}), uint64(0x4000_0000), false)
	f.Fuzz(func(t *testing.T, p []byte, after uint64, first bool) {
		b, err := DecodeDirty(p, ram, after, first)
		if err != nil {
			return
		}
		v := viewer{}
		prev := after
		for i, ipa := range b.IPAs {
			if !inside(ram, ipa, PageSize) || ipa%PageSize != 0 || (i > 0 || !first) && ipa <= prev {
				t.Fatalf("accepted page %#x (after %#x)", ipa, prev)
			}
			prev = ipa
		}
		for ipa, data := range b.All {
			if data != nil {
				v[ipa] = data
			}
		}
		q, _, err := EncodeDirty(nil, b.IPAs, v)
		if err != nil || !bytes.Equal(q, p) {
			t.Fatalf("re-encoding: %v, %x vs %x", err, q, p)
		}
	})
}

func FuzzDecodeOutcome(f *testing.F) {
	id := testSession().ID
	f.Add(EncodeOutcome(id, Committed))
	f.Add(EncodeResumed(id, time.Second, time.Millisecond))
	f.Fuzz(func(t *testing.T, in []byte) {
		if id, v, err := DecodeOutcome(in); err == nil && !bytes.Equal(EncodeOutcome(id, v), in) {
			t.Fatal("outcome does not encode back to its input")
		}
		if id, a, b, err := DecodeResumed(in); err == nil && !bytes.Equal(EncodeResumed(id, a, b), in) {
			t.Fatal("resumed does not encode back to its input")
		}
		if id, err := decodeID("query", in); err == nil && !bytes.Equal(encodeID(id), in) {
			t.Fatal("id does not encode back to its input")
		}
	})
}

// FuzzLedgerListener drives a board's migration listener, with a
// migration prepared and one committing in its ledger, over arbitrary
// first records from its peer and from a stranger: it must never resume,
// discard or give up a guest but on a well-formed verdict from the right
// peer for the right migration, and never hang.
func FuzzLedgerListener(f *testing.F) {
	sess := testSession()
	var b bytes.Buffer
	sc := newScript(&b)
	sc.commit(f)
	f.Add(b.Bytes(), true)
	b.Reset()
	WriteRecord(&b, Record{TypeQuery, 1, encodeID(sess.ID)})
	WriteRecord(&b, Record{TypeResumed, 2, EncodeResumed(sess.ID, 0, 0)})
	f.Add(b.Bytes(), false)
	f.Fuzz(func(t *testing.T, in []byte, fromPeer bool) {
		peer := "a"
		if !fromPeer {
			peer = "z"
		}
		// A destination, prepared for sess (from "a").
		var c calls
		dl := NewLedger(nil)
		dl.BeginReceive(sess, "a", c.discard)
		dl.Prepare(sess.ID, c.resume)
		// A source, committing other (to "a").
		other := NewID()
		sl := NewLedger(NewGuest())
		sl.BeginSend(other, "a")
		sl.Decide(other, Committed, "", c.giveUp, c.takeBack)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, l := range []*Ledger{dl, sl} {
			_, err := Receive(ctx, fuzzConn{bytes.NewReader(in)}, &fakeSink{fp: smallFingerprint()}, WithLedger(l), WithPeer(peer), WithTimeout(time.Second))
			if errors.Is(err, context.DeadlineExceeded) {
				t.Fatal("hung")
			}
		}
		if c.discards+c.takeBacks != 0 {
			t.Fatal("a peer's first record discarded or took back a guest: only an operator or the destination's Abort after Commit may")
		}
		if c.resumes > 1 || c.giveUps > 1 {
			t.Fatal(c)
		}
		if !fromPeer && c.resumes+c.giveUps != 0 {
			t.Fatal("a stranger resumed or gave up a guest")
		}
		if c.resumes == 1 && !bytes.HasPrefix(in, func() []byte {
			var w bytes.Buffer
			WriteRecord(&w, Record{TypeCommit, 2, encodeID(sess.ID)})
			return w.Bytes()
		}()) {
			t.Fatal("resumed without the peer's Commit for the migration")
		}
	})
}

// faultConn feeds Receive a stream in pieces the fuzzer sizes, and can
// make a read fail (the link lost) or block until the deadline (a silent
// peer), as a real connection does.
type faultConn struct {
	data []byte
	plan []byte
	mu   sync.Mutex
	dl   time.Time
}

func (c *faultConn) SetDeadline(t time.Time) error {
	c.mu.Lock()
	c.dl = t
	c.mu.Unlock()
	return nil
}

func (c *faultConn) Read(p []byte) (int, error) {
	var step byte = 0x80
	if len(c.plan) > 0 {
		step, c.plan = c.plan[0], c.plan[1:]
	}
	switch step {
	case 0xff:
		return 0, errors.New("link down")
	case 0xfe:
		c.mu.Lock()
		dl := c.dl
		c.mu.Unlock()
		// Silent until the deadline: which Receive must have set, and
		// short. The wait itself is skipped (the outcome is the same).
		if d := time.Until(dl); dl.IsZero() || d > time.Second {
			return 0, errors.New("blocked with no deadline: Receive would hang")
		}
		return 0, os.ErrDeadlineExceeded
	}
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.data), 1+int(step)*64)
	copy(p, c.data[:n])
	c.data = c.data[n:]
	return n, nil
}

func (c *faultConn) Write(p []byte) (int, error) { return len(p), nil }

// FuzzReceiveFaults runs the destination over arbitrary streams read in
// arbitrary pieces, the connection failing or going silent at arbitrary
// reads: it must end (a hang is reported), never resume a guest without a
// verified stream and Commit, never discard one it acknowledged, and
// leave its ledger consistent with what it did.
func FuzzReceiveFaults(f *testing.F) {
	fp := Fingerprint{MIDR: 1, PageSize: PageSize, RAM: []phys.Range{{0x4000_0000, 3 * PageSize}}}
	f.Add(validStream(f, fp, true), []byte{})
	f.Add(validStream(f, fp, true), []byte{0, 1, 2, 0xfe})
	f.Add(validStream(f, fp, false), []byte{0x10, 0xff})
	f.Fuzz(func(t *testing.T, in, plan []byte) {
		dst := &fakeSink{fp: fp, mem: newMemory(fp.RAM, 0xaa)}
		l := NewLedger(nil)
		conn := &faultConn{data: in, plan: plan}
		done := make(chan error, 1)
		var rep ReceiveReport
		go func() {
			var err error
			rep, err = Receive(context.Background(), conn, dst, WithLedger(l), WithTimeout(2*time.Millisecond))
			done <- err
		}()
		var err error
		select {
		case err = <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("Receive hung")
		}
		if err != nil && strings.Contains(err.Error(), "would hang") {
			t.Fatal(err)
		}
		_, resumes, discards := dst.counts()
		cur, _ := l.Status()
		switch {
		case rep.Request != "migration": // a Query or a late Commit: no guest here to act on
			if resumes+discards+dst.restores != 0 {
				t.Fatalf("%s request: %d restores, %d resumes, %d discards", rep.Request, dst.restores, resumes, discards)
			}
		case err == nil:
			if resumes != 1 || dst.restores != 1 || discards != 0 {
				t.Fatalf("accepted: %d restores, %d resumes, %d discards", dst.restores, resumes, discards)
			}
		case errors.Is(err, ErrInDoubt):
			if resumes+discards != 0 || cur == nil || cur.Phase != Prepared {
				t.Fatalf("in doubt: %d resumes, %d discards, ledger %+v", resumes, discards, cur)
			}
		default:
			if resumes != 0 || cur != nil && cur.Phase == Prepared && discards != 0 {
				t.Fatalf("failed (%v): %d resumes, %d discards, ledger %+v", err, resumes, discards, cur)
			}
		}
	})
}
