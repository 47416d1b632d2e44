// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
)

// The commit protocol between two boards, each with its ledger and its
// migration listener: every path from the destination's Ack to a verdict,
// with the stream lost, the boards partitioned, a board's answer lost or
// late, and the operator deciding. Whatever happens the guest runs on
// exactly one board, or -- until the verdict is known -- on none, kept by
// both.

// board is one side: its ledger, its machine, and a listener reachable
// through dial (unless the link is down).
type board struct {
	t    *testing.T
	name string
	l    *Ledger
	src  *fakeSource
	dst  *fakeSink
	down atomic.Bool // partitioned: dials fail
	peer *board
}

const commitTimeout = 300 * time.Millisecond

// pair returns a source board "a" with a guest and an empty destination
// board "b".
func pair(t *testing.T, fp Fingerprint) (a, b *board) {
	src, dst, _ := newMachines(fp)
	a = &board{t: t, name: "a", l: NewLedger(NewGuest()), src: src}
	b = &board{t: t, name: "b", l: NewLedger(nil), dst: dst}
	a.peer, b.peer = b, a
	return a, b
}

// dial reaches b's migration listener from b.peer, as the loops of the
// commit protocol do: a pipe with Receive serving its far end.
func (b *board) dial(ctx context.Context) (io.ReadWriteCloser, error) {
	if b.down.Load() || b.peer.down.Load() {
		return nil, errors.New("no route to host")
	}
	x, y := net.Pipe()
	go func() {
		var sink Sink = b.dst
		if b.dst == nil {
			sink = &fakeSink{fp: b.src.fp}
		}
		Receive(context.Background(), y, sink, b.opts()...)
		y.Close()
	}()
	return x, nil
}

func (b *board) opts() []Option {
	return []Option{WithLedger(b.l), WithPeer(b.peer.name), WithDial(b.peer.dial), WithTimeout(commitTimeout)}
}

// migrate runs Send on a (to b) over sconn and Receive on b over dconn,
// both with their ledgers and the loops that end a doubt.
func migratePair(t *testing.T, a, b *board, sconn, dconn net.Conn, opts ...Option) (sendResult, receiveResult) {
	t.Helper()
	return sendReceive(t, context.Background(), api.MigrateRequest{}, sconn, dconn, a.src, b.dst, nil,
		append(a.opts(), opts...), append(b.opts(), opts...))
}

// eventually waits for cond, failing the test after 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for start := time.Now(); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Since(start) > 10*time.Second {
			t.Fatalf("never: %s", what)
		}
	}
}

// settled checks that the ledgers agree on the verdict for id, that no
// migration is in progress on either board, and that the guest runs on
// exactly the board the verdict says.
func settled(t *testing.T, a, b *board, id string, want Verdict) {
	t.Helper()
	eventually(t, "both boards decided", func() bool {
		ca, _ := a.l.Status()
		cb, _ := b.l.Status()
		return ca == nil && cb == nil
	})
	for _, x := range []*board{a, b} {
		_, ds := x.l.Status()
		if len(ds) == 0 || ds[0].Session.ID.String() != id || ds[0].Verdict != want {
			t.Fatalf("board %s: decisions %+v, want %s for %s", x.name, ds, want, id)
		}
	}
	_, resumes, discards := b.dst.counts()
	_, _, giveUps := a.src.counts()
	_, aHas := a.l.Guest()
	_, bHas := b.l.Guest()
	switch want {
	case Committed:
		if resumes != 1 || discards != 0 || giveUps != 1 || a.src.running() || aHas || !bHas {
			t.Fatalf("committed: destination %d resumes, %d discards; source %d give-ups, running %v; guests %v %v",
				resumes, discards, giveUps, a.src.running(), aHas, bHas)
		}
		if _, ds := a.l.Status(); !ds[0].Confirmed {
			t.Fatal("the source's decision is not confirmed")
		}
	case Aborted:
		if resumes != 0 || discards != 1 || giveUps != 0 || !a.src.running() || !aHas || bHas {
			t.Fatalf("aborted: destination %d resumes, %d discards; source %d give-ups, running %v; guests %v %v",
				resumes, discards, giveUps, a.src.running(), aHas, bHas)
		}
	}
}

// The destination dies while restoring: the source aborts (and resumes)
// when no Ack comes; the destination, whose Ack failed, is prepared and in
// doubt, asks the source, hears Aborted and discards.
func TestDestinationDiesBeforeAck(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	sconn, dconn := net.Pipe()
	b.dst.onRestore = func() { dconn.Close() }
	s, r := migratePair(t, a, b, sconn, dconn)
	failed(t, s, r, a.src, b.dst, true)
	if !strings.Contains(s.err.Error(), "ack") || !errors.Is(r.err, ErrInDoubt) {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	settled(t, a, b, s.rep.ID, Aborted)
}

// A destination that asks before the source has decided (its Ack is on
// its way) gets Aborted, decided then; the Ack that arrives afterwards is
// answered with Abort, and the guest runs on at the source.
func TestQueryBeforeAckAborts(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	b.dst.onRestore = func() {
		cur, _ := a.l.Status()
		id := cur.Session.ID
		if v := a.l.Answer(id, "b"); v != Aborted {
			t.Errorf("query while sending: %v", v)
		}
	}
	sconn, dconn := net.Pipe()
	s, r := migratePair(t, a, b, sconn, dconn)
	failed(t, s, r, a.src, b.dst, true)
	if !strings.Contains(s.err.Error(), "asked for the verdict before its Ack") || !errors.Is(r.err, ErrAborted) {
		t.Fatalf("send: %v\nreceive: %v", s.err, r.err)
	}
	settled(t, a, b, s.rep.ID, Aborted)
}

// dropCommit loses the Commit record: the source's write of it fails and
// the link goes down.
type dropCommit struct{ net.Conn }

func (c dropCommit) Write(p []byte) (int, error) {
	if len(p) >= 2 && RecordType(binary.LittleEndian.Uint16(p)) == TypeCommit {
		c.Conn.Close()
		return 0, errors.New("link down")
	}
	return c.Conn.Write(p)
}

// Commit is lost: the migration is committed but unconfirmed. The source
// keeps its guest parked and tells the destination again; the destination,
// in doubt, asks the source. Both loops run at once; the guest is resumed
// once, on the destination, and the source lets go of it only then.
func TestCommitLost(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	sconn, dconn := net.Pipe()
	s, r := migratePair(t, a, b, dropCommit{sconn}, dconn)
	if s.err != nil || !s.rep.OK || s.rep.Confirmed || !strings.Contains(s.rep.InDoubt, "committed, but") {
		t.Fatalf("send: %v, %+v", s.err, s.rep)
	}
	if !errors.Is(r.err, ErrInDoubt) || r.rep.InDoubt == "" {
		t.Fatalf("receive: %v", r.err)
	}
	settled(t, a, b, s.rep.ID, Committed)
}

// The source stops after Ack, say nothing more: the destination never
// resumes or discards on a timeout. The source's Commit over a new
// connection resumes it; a second one is answered the same and resumes
// nothing more.
func TestCommitNeverArrives(t *testing.T) {
	fp := smallFingerprint()
	_, dst, _ := newMachines(fp)
	l := NewLedger(nil)
	a, b := net.Pipe()
	defer a.Close()
	sc := newScript(a)
	go func() {
		sc.hello(t, fp)
		sc.read() // HelloReply
		sc.pages(t, fp.RAM)
		sc.stopped(t, 1)
		st, _ := State{Name: "cpu", Version: 1}.Encode()
		sc.send(t, TypeState, st)
		sc.end(t)
		sc.read() // Ack
	}()
	rep, err := Receive(context.Background(), b, dst, WithLedger(l), WithPeer("a"), WithTimeout(commitTimeout))
	if !errors.Is(err, ErrInDoubt) || !errors.Is(err, os.ErrDeadlineExceeded) || rep.OK || rep.Verdict != "unknown" {
		t.Fatalf("got %v, %+v", err, rep)
	}
	time.Sleep(3 * commitTimeout)
	if rs, res, d := dst.counts(); rs != 1 || res != 0 || d != 0 {
		t.Fatalf("destination: %d restores, %d resumes, %d discards; want 1, 0, 0", rs, res, d)
	}
	cur, _ := l.Status()
	if cur == nil || cur.Phase != Prepared || cur.InDoubt == "" || cur.Role != RoleDestination {
		t.Fatalf("status %+v", cur)
	}
	for i := range 2 {
		x, y := net.Pipe()
		go func() {
			Receive(context.Background(), y, dst, WithLedger(l), WithPeer("a"), WithTimeout(commitTimeout))
			y.Close()
		}()
		late := newScript(x)
		late.commit(t)
		ans := late.read()
		x.Close()
		id, _, _, derr := DecodeResumed(ans.Payload)
		if late.err != nil || ans.Type != TypeResumed || derr != nil || id != sc.sess.ID {
			t.Fatalf("late commit %d: %v %v %v", i, late.err, ans.Type, derr)
		}
	}
	if _, res, d := dst.counts(); res != 1 || d != 0 {
		t.Fatalf("destination: %d resumes, %d discards; want 1, 0", res, d)
	}
}

// The destination fails to resume after Commit: it discards its copy and
// says so, and the source -- which kept its guest parked -- resumes it.
// Nothing is lost.
func TestDestinationResumeFails(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	b.dst.resumeErr = errors.New("vCPU refused to start")
	sconn, dconn := net.Pipe()
	s, r := migratePair(t, a, b, sconn, dconn)
	if s.err == nil || s.rep.OK || !strings.Contains(s.err.Error(), "vCPU refused to start") || !strings.Contains(s.err.Error(), "runs on here") {
		t.Fatalf("send: %v", s.err)
	}
	if r.err == nil {
		t.Fatal("receive succeeded")
	}
	if p, res, g := a.src.counts(); p != 1 || res != 1 || g != 0 || !a.src.running() {
		t.Fatalf("source: %d pauses, %d resumes, %d give-ups", p, res, g)
	}
	// The destination's resume was tried once and failed.
	if _, res, d := b.dst.counts(); res != 1 || d != 1 {
		t.Fatalf("destination: %d resumes, %d discards", res, d)
	}
	if _, ok := b.l.Guest(); ok {
		t.Fatal("the destination thinks it has the guest")
	}
	if _, ok := a.l.Guest(); !ok {
		t.Fatal("the source lost its guest")
	}
}

// A partition right after Ack: both boards are in doubt and say so, the
// guest runs nowhere, both keep it. The operator resolves the destination
// (committed); when the link comes back the source hears it and lets go.
func TestPartitionResolvedByTheOperator(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	sconn, dconn := net.Pipe()
	var once sync.Once
	b.dst.onRestore = func() { once.Do(func() { a.down.Store(true) }) }
	s, r := migratePair(t, a, b, dropCommit{sconn}, dconn)
	if !s.rep.OK || s.rep.Confirmed || !errors.Is(r.err, ErrInDoubt) {
		t.Fatalf("send: %v %+v\nreceive: %v", s.err, s.rep, r.err)
	}
	time.Sleep(3 * commitTimeout)
	ca, _ := a.l.Status()
	cb, _ := b.l.Status()
	if ca == nil || ca.Phase != Committing || ca.InDoubt == "" || cb == nil || cb.Phase != Prepared || cb.InDoubt == "" {
		t.Fatalf("statuses: %+v, %+v", ca, cb)
	}
	if _, res, d := b.dst.counts(); a.src.running() || res != 0 || d != 0 {
		t.Fatal("the guest moved during the partition")
	}
	id, _ := ParseID(s.rep.ID)
	if v, err := b.l.Force(id, Committed); v != Committed || err != nil {
		t.Fatalf("force: %v %v", v, err)
	}
	if v, err := b.l.Force(id, Aborted); v != Committed || err == nil {
		t.Fatalf("a second, contrary verdict: %v %v", v, err)
	}
	a.down.Store(false)
	settled(t, a, b, s.rep.ID, Committed)
}

// The operator takes the guest back on a committing source whose
// destination is gone for good.
func TestOperatorTakesBack(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	sconn, dconn := net.Pipe()
	b.down.Store(true) // unreachable once the stream is lost
	s, _ := migratePair(t, a, b, dropCommit{sconn}, dconn)
	if !s.rep.OK || s.rep.Confirmed {
		t.Fatalf("send: %v %+v", s.err, s.rep)
	}
	id, _ := ParseID(s.rep.ID)
	if v, err := a.l.Force(id, Aborted); v != Aborted || err != nil {
		t.Fatalf("force: %v %v", v, err)
	}
	if _, res, g := a.src.counts(); res != 1 || g != 0 || !a.src.running() {
		t.Fatalf("source: %d resumes, %d give-ups", res, g)
	}
	// The destination, asked later, hears aborted and discards.
	if v, err := b.l.Force(id, Aborted); v != Aborted || err != nil {
		t.Fatalf("force on the destination: %v %v", v, err)
	}
	settled(t, a, b, s.rep.ID, Aborted)
}

// The fault points are reached in order, each once, on each side.
func TestFaultPoints(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	var mu sync.Mutex
	var steps []string
	hook := WithFault(func(step string) {
		mu.Lock()
		steps = append(steps, step)
		mu.Unlock()
	})
	sconn, dconn := net.Pipe()
	s, r := migratePair(t, a, b, sconn, dconn, hook)
	if s.err != nil || r.err != nil || !s.rep.Confirmed {
		t.Fatal(s.err, r.err)
	}
	var src, dst []string
	for _, st := range steps {
		switch st {
		case "hello", "round0", "round1", "stopped", "acked", "committed":
			src = append(src, st)
		default:
			dst = append(dst, st)
		}
	}
	if got := strings.Join(src, " "); got != "hello round0 stopped acked committed" && got != "hello round0 round1 stopped acked committed" {
		t.Errorf("source steps %q", got)
	}
	if got := strings.Join(dst, " "); got != "receiving prepared resumed" {
		t.Errorf("destination steps %q", got)
	}
}

// While a migration runs, other connections to the destination's listener
// -- a Hello nobody announced, another board's Hello, a Commit for another
// migration, a stranger's Query for this one, garbage, a huge length
// prefix -- are each refused with a clear error, and the migration goes
// through untouched.
func TestHostilePeersDuringMigration(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	b.l.Strict = true
	id := NewID()
	b.l.Expect(id, "a", time.Now().Add(time.Minute))
	hostile := func(peer string, rec []byte) (ReceiveReport, error, []Record) {
		x, y := net.Pipe()
		done := make(chan struct{})
		var rep ReceiveReport
		var err error
		go func() {
			rep, err = Receive(context.Background(), y, &fakeSink{fp: b.dst.fp, mem: newMemory(b.dst.fp.RAM, 0)},
				WithLedger(b.l), WithPeer(peer), WithTimeout(commitTimeout))
			y.Close()
			close(done)
		}()
		x.SetDeadline(time.Now().Add(5 * time.Second))
		x.Write(rec)
		var replies []Record
		for {
			r, rerr := ReadRecord(x, nil)
			if rerr != nil {
				break
			}
			replies = append(replies, r)
		}
		x.Close()
		<-done
		return rep, err, replies
	}
	record := func(typ RecordType, p []byte) []byte {
		var w strings.Builder
		WriteRecord(&bufRW{w: &w}, Record{typ, typ.Version(), p})
		return []byte(w.String())
	}
	hello := func(id ID) []byte {
		fp := smallFingerprint()
		fp.Protocol = ProtocolVersion
		p, _ := EncodeHello(fp, Session{ID: id, Guest: NewID()})
		return record(TypeHello, p)
	}
	var mu sync.Mutex
	var results []string
	attack := func() {
		for _, c := range []struct {
			what, peer string
			rec        []byte
			says       string
		}{
			{"an unannounced Hello", "a", hello(NewID()), "already in a migration"},
			{"another board's Hello", "z", hello(id), "already in a migration"},
			{"a Commit for another migration", "a", record(TypeCommit, encodeID(NewID())), "no such migration"},
			{"a stranger's Query", "z", record(TypeQuery, encodeID(id)), ""},
			{"garbage", "a", []byte("GET / HTTP/1.1\r\n\r\n"), "unknown record type"},
			{"a huge length", "a", header(TypeHello, 1, 0xffffffff), "over its length limit"},
		} {
			rep, err, replies := hostile(c.peer, c.rec)
			if c.says == "" { // the stranger learns nothing
				if len(replies) != 1 || replies[0].Type != TypeOutcome {
					t.Errorf("%s: replies %v", c.what, replies)
				} else if _, v, _ := DecodeOutcome(replies[0].Payload); v != Unknown {
					t.Errorf("%s: told %v", c.what, v)
				}
				continue
			}
			if err == nil || !strings.Contains(err.Error(), c.says) {
				t.Errorf("%s: %v (report %+v), want it to say %q", c.what, err, rep, c.says)
			}
			mu.Lock()
			results = append(results, c.what+": "+fmt.Sprint(err))
			mu.Unlock()
		}
	}
	b.dst.onRestore = attack // the destination is busy with the migration
	sconn, dconn := net.Pipe()
	sr, r := sendReceive(t, context.Background(), api.MigrateRequest{ID: id.String()}, sconn, dconn, a.src, b.dst, nil, a.opts(), b.opts())
	if sr.err != nil || !sr.rep.Confirmed || r.err != nil {
		t.Fatalf("the migration under attack: send %v, receive %v", sr.err, r.err)
	}
	settled(t, a, b, id.String(), Committed)
	for _, s := range results {
		t.Log(s)
	}
}
