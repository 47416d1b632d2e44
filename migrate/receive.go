// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"io"
	"time"
)

// Sink is the machine side of Receive: an empty machine that takes the
// incoming guest.
type Sink interface {
	Fingerprint() Fingerprint
	// WritePage writes one page of guest RAM (PageSize bytes); data nil
	// means a zero page. Pages arrive before the digest is checked, into
	// memory no guest runs on; a page sent in several rounds is written
	// each time, the last one holding.
	WritePage(ipa uint64, data []byte) error
	// PageView is the page at ipa as guest RAM now holds it (nil outside
	// guest RAM): Receive reads every page back after writing it, so the
	// check covers the memory, not only the stream.
	PageView(ipa uint64) []byte
	// Restore applies the machine state, after the digest matched, and does
	// the cache and TLB maintenance the written RAM needs.
	Restore(states []State) error
	// Resume starts the guest; called only after Commit.
	Resume() error
	// Discard forgets a partial incoming machine after a failure.
	Discard()
}

// ReceiveReport is how a connection to the migration listener ended, as
// the destination saw it (or, for a Query, the source).
type ReceiveReport struct {
	// Request is what the peer came for: "migration" (Hello), "query" (a
	// destination asking this source for a verdict) or "commit" (a
	// source telling this destination its verdict again).
	Request string
	ID      string // the migration's
	OK      bool
	// Verdict is what holds here for the migration when Receive returns
	// ("committed", "aborted", or "unknown" while in doubt).
	Verdict string
	InDoubt string      // why the verdict is not known yet; the guest is kept, not resumed
	Error   string      // why it failed
	Source  Fingerprint // from the source's Hello (zero if none was read)
	Bytes   uint64      // bytes of stream received

	Pages, ZeroPages, DataPages uint64
	States                      []string // names of the state records, in order
	Rounds                      int      // pre-copy rounds, round 0 and the stopped one included

	RestoreTime time.Duration // End received to Ack sent: digest check and Restore
	ResumeTime  time.Duration // Commit received to the guest resumed
	Total       time.Duration // Receive called to the guest resumed
}

// Receive serves one connection to a board's migration listener, from the
// authenticated peer (WithPeer), by its first record:
//
//   - Hello: a guest comes in. Receive checks the source's fingerprint
//     against dst's (Compatible) and the session against the ledger
//     (WithLedger: no migration in progress, no guest here, a new ID),
//     and accepts or refuses; then writes pages as they arrive and keeps
//     the state records; on End it checks the digest, restores the state,
//     records the migration prepared and sends Ack; on Commit it resumes
//     the guest and sends Resumed. Any failure before Ack discards the
//     partial machine and tells the source (Abort, best effort). After
//     Ack nothing but the verdict ends it: Abort discards the guest,
//     Commit resumes it; a lost link or a timeout leaves it prepared, in
//     doubt (ErrInDoubt), and -- given WithDial -- Receive leaves a
//     goroutine asking the source for the verdict until it is known.
//   - Query: the destination of a migration this board sent asks for its
//     verdict; a migration still undecided is aborted then.
//   - Commit: the source of a migration this board prepared tells it the
//     verdict again, over a new connection.
func Receive(ctx context.Context, conn io.ReadWriter, dst Sink, opts ...Option) (ReceiveReport, error) {
	cfg := newConfig(opts)
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	r := &receiver{dst: dst, st: newStream(ctx, conn, cfg), l: cfg.ledger, peer: cfg.peer, dial: cfg.dial, at: cfg.at, cancel: cancel}
	if r.l == nil {
		r.l = NewLedger(nil)
	}
	defer r.st.close()
	err := r.serve()
	r.rep.Bytes = r.st.recvd.n
	if err != nil {
		r.rep.Error = err.Error()
		return r.rep, err
	}
	r.rep.OK = true
	return r.rep, nil
}

// errAbortedHere ends a Receive whose migration was aborted on this board
// while the stream was coming in (the operator's abort).
var errAbortedHere = errors.New("the migration was aborted on this board")

type receiver struct {
	dst  Sink
	st   *stream
	rep  ReceiveReport
	l    *Ledger
	peer string
	dial func(context.Context) (io.ReadWriteCloser, error)
	at   func(step string) // WithFault's hook
	sess Session

	ackErr error // sending the Ack failed: it may or may not have arrived
	// releaseGC ends holdGC's hold from the stopped round on.
	releaseGC func()

	cancel context.CancelCauseFunc // ends the stream's context
	bound  *time.Timer             // the announced time to the Ack running out (nil: none)
}

// serve reads the first record and serves what it asks for.
func (r *receiver) serve() error {
	rec, err := r.st.read(r.st.timeout)
	if err != nil {
		return fmt.Errorf("waiting for hello: %w", err)
	}
	switch rec.Type {
	case TypeHello:
		r.rep.Request = "migration"
		return r.migration(rec)
	case TypeQuery:
		r.rep.Request = "query"
		return r.query(rec)
	case TypeCommit:
		r.rep.Request = "commit"
		return r.lateCommit(rec)
	}
	err = unexpected(rec, "Hello, Query or Commit")
	if rec.Type != TypeAbort {
		r.st.abort(err.Error())
	}
	return fmt.Errorf("waiting for hello: %w", err)
}

// migration takes an incoming guest, Hello read.
func (r *receiver) migration(hello Record) error {
	start := time.Now()
	if err := r.hello(hello); err != nil {
		return err
	}
	defer func() {
		if r.bound != nil {
			r.bound.Stop()
		}
	}()
	defer func() {
		if r.releaseGC != nil {
			r.releaseGC()
		}
	}()
	states, err := r.receive()
	if err == nil {
		err = r.restore(states)
	}
	if err != nil {
		r.l.Fail(r.sess.ID, err.Error())
		r.rep.Verdict = Aborted.String()
		if !errors.Is(err, ErrAborted) {
			r.st.abort(err.Error())
		}
		return err
	}
	err = r.commit()
	r.rep.Total = time.Since(start)
	return err
}

// hello checks the source's Hello and accepts or refuses it.
func (r *receiver) hello(rec Record) error {
	src, sess, err := DecodeHello(rec.Payload)
	if err == nil {
		r.rep.Source = src
		local := r.dst.Fingerprint()
		local.Protocol = ProtocolVersion
		err = Compatible(src, local)
	}
	var lasts time.Duration
	if err == nil {
		r.rep.ID = sess.ID.String()
		lasts, err = r.l.beginReceive(sess, r.peer, r.dst.Discard, func() { r.cancel(errAbortedHere) })
	}
	if err != nil {
		r.refuse(err.Error())
		return fmt.Errorf("refusing the source: %w", err)
	}
	if lasts > 0 {
		// The operator announced how long the source may take (its max
		// time and a margin): past it the stream ends and what came is
		// discarded. Stopped before the Ack: after it only the verdict
		// ends the migration.
		r.bound = time.AfterFunc(lasts, func() {
			r.cancel(fmt.Errorf("the migration did not reach its Ack within %v, the time announced for it (its max time and a margin)", lasts))
		})
	}
	r.sess = sess
	if r.dial != nil {
		r.l.reach(sess.ID, r.dial, r.st.timeout)
	}
	r.rep.Pages = src.Pages()
	if err := r.st.send(TypeHelloReply, EncodeHelloReply(true, "")); err != nil {
		err = fmt.Errorf("accepting hello: %w", err)
		r.l.Fail(sess.ID, err.Error())
		return err
	}
	r.at("receiving")
	return nil
}

// refuse answers Hello with a refusal, best effort.
func (r *receiver) refuse(why string) {
	r.st.finish(min(r.st.timeout, time.Second))
	if writeRecord(r.st.bw, TypeHelloReply, TypeHelloReply.Version(), EncodeHelloReply(false, why)) == nil {
		r.st.bw.Flush()
	}
}

// rounds is where the receiver is in the stream of rounds.
type rounds struct {
	dense   cursor // round 0: every page, in order
	n       uint32 // the round being received (0: the dense one)
	want    uint64 // pages the round announced
	got     uint64 // pages of it received
	last    uint64 // IPA of its last page so far
	stopped bool   // the round is the last, sent with the guest stopped
}

// complete says whether the current round has all its pages.
func (r *rounds) complete() bool {
	if r.n == 0 {
		return r.dense.done()
	}
	return r.got == r.want
}

// receive takes round 0 (Pages, written as they come), the rounds after it
// (Round, then its Dirty records), the last of them stopped, then State
// records (kept), then End, whose digest it checks. Every record is checked
// against where the stream is before anything in it is used.
func (r *receiver) receive() ([]State, error) {
	ram := r.rep.Source.RAM
	rs := rounds{dense: cursor{ram: ram}}
	if len(ram) > 0 {
		rs.dense.next = ram[0].Base
	}
	var states []State
	for {
		rec, err := r.st.read(r.st.timeout)
		if err != nil {
			return nil, fmt.Errorf("receiving the guest: %w", err)
		}
		switch rec.Type {
		case TypePages:
			if rs.n != 0 {
				return nil, fmt.Errorf("%w: Pages record in round %d (only round 0 is sent as Pages)", ErrProtocol, rs.n)
			}
			if err := r.pages(rec.Payload, ram, &rs.dense); err != nil {
				return nil, fmt.Errorf("Pages record: %w", err)
			}
		case TypeRound:
			h, err := DecodeRound(rec.Payload)
			if err != nil {
				return nil, fmt.Errorf("Round record: %w", err)
			}
			switch {
			case rs.stopped:
				return nil, fmt.Errorf("%w: Round record %d after the stopped round %d", ErrProtocol, h.N, rs.n)
			case !rs.complete():
				return nil, fmt.Errorf("%w: Round record %d before round %d was complete (%s)", ErrProtocol, h.N, rs.n, rs.missing())
			case h.N != rs.n+1:
				return nil, fmt.Errorf("%w: Round record %d after round %d", ErrProtocol, h.N, rs.n)
			case h.Pages > r.rep.Pages:
				return nil, fmt.Errorf("%w: Round record %d announces %d pages, guest RAM has %d", ErrProtocol, h.N, h.Pages, r.rep.Pages)
			}
			rs = rounds{dense: rs.dense, n: h.N, want: h.Pages, stopped: h.Stopped}
			if h.Stopped && r.releaseGC == nil {
				r.releaseGC = holdGC() // no collection inside the switchover
			}
			r.rep.Rounds = int(h.N) + 1
		case TypeDirty:
			if rs.n == 0 {
				return nil, fmt.Errorf("%w: Dirty record before any Round record", ErrProtocol)
			}
			b, err := DecodeDirty(rec.Payload, ram, rs.last, rs.got == 0)
			if err != nil {
				return nil, fmt.Errorf("Dirty record of round %d: %w", rs.n, err)
			}
			if k := uint64(len(b.IPAs)); k > rs.want-rs.got {
				return nil, fmt.Errorf("%w: Dirty record of round %d: %d pages, the round announced %d and %d have arrived", ErrProtocol, rs.n, k, rs.want, rs.got)
			}
			for ipa, data := range b.All {
				if err := r.write(ipa, data); err != nil {
					return nil, err
				}
			}
			rs.got += uint64(len(b.IPAs))
			rs.last = b.IPAs[len(b.IPAs)-1]
		case TypeSync:
			if rs.stopped || !rs.complete() {
				return nil, fmt.Errorf("%w: Sync record in round %d (%s); it belongs between rounds, before the stopped one", ErrProtocol, rs.n, rs.missing())
			}
			if err := r.st.send(TypeSynced, nil); err != nil {
				return nil, fmt.Errorf("answering sync: %w", err)
			}
		case TypeState:
			if !rs.stopped || !rs.complete() {
				return nil, fmt.Errorf("%w: State record before the stopped round was complete (round %d, %s)", ErrProtocol, rs.n, rs.missing())
			}
			s, err := DecodeState(rec.Payload)
			if err != nil {
				return nil, fmt.Errorf("State record: %w", err)
			}
			if len(states) == MaxStates {
				return nil, fmt.Errorf("%w: more than %d State records", ErrProtocol, MaxStates)
			}
			for _, o := range states {
				if o.Name == s.Name {
					return nil, fmt.Errorf("%w: State record %q twice", ErrProtocol, s.Name)
				}
			}
			states = append(states, s)
			r.rep.States = append(r.rep.States, s.Name)
		case TypeEnd:
			if !bytes.Equal(rec.Payload, r.st.digest()) {
				return nil, fmt.Errorf("End record: %w", ErrDigest)
			}
			if !rs.stopped || !rs.complete() {
				return nil, fmt.Errorf("%w: End record before the stopped round was complete (round %d, %s)", ErrProtocol, rs.n, rs.missing())
			}
			return states, nil
		default:
			return nil, unexpected(rec, "Pages, Round, Dirty, Sync, State or End")
		}
	}
}

// missing says what the current round still lacks.
func (r *rounds) missing() string {
	switch {
	case r.n == 0 && !r.dense.done():
		return fmt.Sprintf("round 0 at page %#x", r.dense.next)
	case r.n > 0 && r.got < r.want:
		return fmt.Sprintf("%d of %d pages arrived", r.got, r.want)
	case !r.stopped:
		return "the guest was never stopped"
	}
	return "complete"
}

// write stores one incoming page and reads it back: guest RAM must hold
// what the stream carried (zeros for a zero page, whatever RAM held
// before).
func (r *receiver) write(ipa uint64, data []byte) error {
	if err := r.dst.WritePage(ipa, data); err != nil {
		return fmt.Errorf("writing the page at %#x: %w", ipa, err)
	}
	want := data
	if want == nil {
		want = zeroPage[:]
	}
	if !bytes.Equal(r.dst.PageView(ipa), want) {
		return fmt.Errorf("%w: the page at %#x does not hold what was written", ErrVerify, ipa)
	}
	if data == nil {
		r.rep.ZeroPages++
	} else {
		r.rep.DataPages++
	}
	return nil
}

// pages writes one Pages record's pages into the sink.
func (r *receiver) pages(p []byte, ram []phys.Range, next *cursor) error {
	b, err := DecodePages(p, ram)
	if err != nil {
		return err
	}
	if err := next.take(b.Base, b.Count); err != nil {
		return err
	}
	for ipa, data := range b.All() {
		if err := r.write(ipa, data); err != nil {
			return err
		}
	}
	return nil
}

// restore applies the verified state and acknowledges. Once the Ack may
// have left, nothing but the verdict ends the migration: a failure to
// send it is the start of a doubt (commit's), not an abort.
func (r *receiver) restore(states []State) error {
	start := time.Now()
	if r.bound != nil && !r.bound.Stop() {
		return fmt.Errorf("before the restore: %w", context.Cause(r.st.ctx))
	}
	if err := r.dst.Restore(states); err != nil {
		return fmt.Errorf("restore failed: %w", err)
	}
	// Prepared before the Ack leaves: once it may have arrived, only the
	// verdict ends this migration.
	if err := r.l.Prepare(r.sess.ID, r.dst.Resume); err != nil {
		return err
	}
	r.ackErr = r.st.send(TypeAck, nil)
	if r.ackErr != nil {
		r.ackErr = fmt.Errorf("sending ack: %w", r.ackErr)
	}
	r.rep.RestoreTime = time.Since(start)
	return nil
}

// commit waits, prepared, for the verdict: Commit resumes the guest (and
// Resumed says so), Abort discards it. Anything else leaves it prepared
// and in doubt: the source may have decided either way.
func (r *receiver) commit() error {
	var rec Record
	err := r.ackErr
	if err == nil {
		r.at("prepared")
		rec, err = r.st.read(r.st.timeout)
	}
	switch {
	case err != nil:
	case rec.Type == TypeAbort:
		why := unexpected(rec, "Commit")
		r.l.Resolve(r.sess.ID, Aborted, r.peer, why.Error())
		r.rep.Verdict = Aborted.String()
		return fmt.Errorf("after its Ack: %w; the guest was discarded here", why)
	case rec.Type != TypeCommit:
		err = unexpected(rec, "Commit")
	default:
		var id ID
		if id, err = decodeID("commit", rec.Payload); err == nil && id != r.sess.ID {
			err = fmt.Errorf("%w: Commit for migration %s, want %s", ErrProtocol, id, r.sess.ID)
		}
	}
	if err != nil {
		why := fmt.Sprintf("prepared: Ack sent, no verdict from the source (%v); the guest is kept, not resumed, until there is one", err)
		r.l.Doubt(r.sess.ID, why)
		r.rep.InDoubt, r.rep.Verdict = why, Unknown.String()
		if r.dial != nil {
			go ask(r.l, r.sess.ID, r.peer, r.dial, r.st.timeout)
		}
		return fmt.Errorf("%w: %w", ErrInDoubt, err)
	}
	start := time.Now()
	v, err := r.l.Resolve(r.sess.ID, Committed, r.peer, "")
	r.rep.Verdict = v.String()
	if err != nil || v != Committed {
		if err == nil {
			err = fmt.Errorf("migration %s was already %v here", r.sess.ID, v)
		}
		r.st.abort(err.Error())
		return err
	}
	r.rep.ResumeTime = time.Since(start)
	r.at("resumed")
	// Best effort: the guest runs here whether or not the source hears it
	// (if it does not, it asks again: see lateCommit).
	r.st.finish(min(r.st.timeout, time.Second))
	if writeRecord(r.st.bw, TypeResumed, TypeResumed.Version(), EncodeResumed(r.sess.ID, r.rep.RestoreTime, r.rep.ResumeTime)) == nil {
		r.st.bw.Flush()
	}
	return nil
}

// cursor checks that pages arrive in order, range by range, each page
// exactly once.
type cursor struct {
	ram  []phys.Range
	i    int    // current range
	next uint64 // next expected IPA in ram[i]
}

func (c *cursor) take(base uint64, n int) error {
	if c.i >= len(c.ram) {
		return fmt.Errorf("%w: pages at %#x after the whole of guest RAM", ErrProtocol, base)
	}
	end := c.ram[c.i].End()
	size := uint64(n) * PageSize
	if base != c.next || size > end-base {
		return fmt.Errorf("%w: %d pages at %#x, want pages from %#x to at most %#x", ErrProtocol, n, base, c.next, end)
	}
	c.next += size
	if c.next == end {
		c.i++
		if c.i < len(c.ram) {
			c.next = c.ram[c.i].Base
		}
	}
	return nil
}

func (c *cursor) done() bool { return c.i == len(c.ram) }
