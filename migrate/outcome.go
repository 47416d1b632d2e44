// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"
)

// Back-off of the loops that end a migration in doubt: the first retry
// after minRetry, doubling up to maxRetry.
const (
	minRetry = 100 * time.Millisecond
	maxRetry = 5 * time.Second
)

// retry calls attempt with back-off while the migration is pending,
// recording every failure as the reason for the doubt.
func retry(l *Ledger, id ID, p Phase, what string, attempt func() error) {
	d := minRetry
	for l.Pending(id, p) {
		err := attempt()
		if err == nil || !l.Pending(id, p) {
			return
		}
		l.Doubt(id, fmt.Sprintf("%s: %v (next try in %v)", what, err, d))
		time.Sleep(d)
		d = min(2*d, maxRetry)
	}
}

// exchange opens a connection with dial, sends one record and reads the
// answer, within timeout; then (if next is not nil) hands the stream to it.
func exchange(dial func(context.Context) (io.ReadWriteCloser, error), timeout time.Duration, t RecordType, p []byte, next func(*stream, Record) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	c, err := dial(ctx)
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer c.Close()
	st := newStream(ctx, c, config{timeout: timeout})
	defer st.close()
	if err := st.send(t, p); err != nil {
		return err
	}
	r, err := st.read(timeout)
	if err != nil {
		return err
	}
	return next(st, r)
}

// tell is the committing source's loop: it sends Commit(id) to the
// destination over new connections until the destination says what it
// did (Resumed: the source gives the guest up; Abort or Outcome aborted:
// it discarded the guest, the source resumes it) or the operator
// resolves the migration.
func tell(l *Ledger, id ID, peer string, dial func(context.Context) (io.ReadWriteCloser, error), timeout time.Duration) {
	retry(l, id, Committing, "telling the destination the migration is committed", func() error {
		return tellOnce(l, id, peer, dial, timeout)
	})
}

// tellOnce is one of tell's attempts: Commit(id) on a new connection, and
// the source acts on the destination's answer.
func tellOnce(l *Ledger, id ID, peer string, dial func(context.Context) (io.ReadWriteCloser, error), timeout time.Duration) error {
	return exchange(dial, timeout, TypeCommit, encodeID(id), func(_ *stream, r Record) error {
		return sourceHeard(l, id, peer, r)
	})
}

// sourceHeard acts on what a committing source heard from its
// destination: Resumed(id), Abort, or an Outcome.
func sourceHeard(l *Ledger, id ID, peer string, r Record) error {
	v, note := Unknown, ""
	switch r.Type {
	case TypeResumed:
		got, _, _, err := DecodeResumed(r.Payload)
		if err != nil {
			return err
		}
		if got != id {
			return fmt.Errorf("%w: Resumed for migration %s, want %s", ErrProtocol, got, id)
		}
		v, note = Committed, "confirmed after the stream was lost"
	case TypeAbort:
		v, note = Aborted, unexpected(r, "Resumed").Error()
	case TypeOutcome:
		got, ov, err := DecodeOutcome(r.Payload)
		if err != nil {
			return err
		}
		if got != id {
			return fmt.Errorf("%w: Outcome for migration %s, want %s", ErrProtocol, got, id)
		}
		if ov != Aborted {
			return fmt.Errorf("the destination does not know migration %s (did it restart?)", id)
		}
		v, note = Aborted, "the destination discarded the guest"
	default:
		return unexpected(r, "Resumed")
	}
	_, err := l.Heard(id, v, peer, note)
	return err
}

// ask is the prepared destination's loop: it asks the source for the
// verdict (Query) over new connections until it has one, and acts on it
// (Committed: resume, and say Resumed so the source can let go; Aborted:
// discard), or the operator resolves the migration.
func ask(l *Ledger, id ID, peer string, dial func(context.Context) (io.ReadWriteCloser, error), timeout time.Duration) {
	retry(l, id, Prepared, "asking the source for the verdict", func() error {
		return askOnce(l, id, peer, dial, timeout)
	})
}

// askOnce is one of ask's attempts: Query(id) on a new connection, and the
// destination acts on the source's verdict.
func askOnce(l *Ledger, id ID, peer string, dial func(context.Context) (io.ReadWriteCloser, error), timeout time.Duration) error {
	return exchange(dial, timeout, TypeQuery, encodeID(id), func(st *stream, r Record) error {
		if r.Type != TypeOutcome {
			return unexpected(r, "Outcome")
		}
		got, v, err := DecodeOutcome(r.Payload)
		if err != nil {
			return err
		}
		if got != id {
			return fmt.Errorf("%w: Outcome for migration %s, want %s", ErrProtocol, got, id)
		}
		if v == Unknown {
			return fmt.Errorf("the source does not know migration %s (did it restart?)", id)
		}
		start := time.Now()
		v, err = l.Resolve(id, v, peer, "verdict asked from the source after the stream was lost")
		if err != nil {
			st.abort(err.Error())
			return nil // decided: the source hears it was discarded
		}
		if v == Committed {
			st.send(TypeResumed, EncodeResumed(id, 0, time.Since(start)))
		}
		return nil
	})
}

// query answers a destination's Query with this source's verdict; if it
// is Committed, the destination then resumes the guest and says so.
func (r *receiver) query(rec Record) error {
	id, err := decodeID("query", rec.Payload)
	if err != nil {
		r.st.abort(err.Error())
		return err
	}
	r.rep.ID = id.String()
	v := r.l.Answer(id, r.peer)
	r.rep.Verdict = v.String()
	if err := r.st.send(TypeOutcome, EncodeOutcome(id, v)); err != nil {
		return fmt.Errorf("answering the query for %s: %w", id, err)
	}
	if v != Committed {
		return nil
	}
	ans, err := r.st.read(r.st.timeout)
	if err == nil {
		err = sourceHeard(r.l, id, r.peer, ans)
	}
	if err != nil {
		return fmt.Errorf("after answering committed to the query for %s: %w", id, err)
	}
	return nil
}

// lateCommit takes a committing source's Commit on a new connection: the
// guest is resumed here if it is prepared (and was not already), and the
// source hears what holds.
func (r *receiver) lateCommit(rec Record) error {
	id, err := decodeID("commit", rec.Payload)
	if err != nil {
		r.st.abort(err.Error())
		return err
	}
	r.rep.ID = id.String()
	start := time.Now()
	v, err := r.l.Resolve(id, Committed, r.peer, "committed by the source after the stream was lost")
	r.rep.Verdict = v.String()
	switch {
	case errors.Is(err, ErrUnknown):
		r.st.send(TypeOutcome, EncodeOutcome(id, Unknown))
		return err
	case err != nil || v == Aborted:
		why := fmt.Sprintf("migration %s was aborted here", id)
		if err != nil {
			why = err.Error()
		}
		r.st.abort(why)
		return errors.New(why)
	}
	r.rep.ResumeTime = time.Since(start)
	return r.st.send(TypeResumed, EncodeResumed(id, 0, r.rep.ResumeTime))
}
