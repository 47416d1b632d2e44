// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// calls counts what a ledger did to the guest.
type calls struct{ giveUps, takeBacks, resumes, discards int }

func (c *calls) giveUp()       { c.giveUps++ }
func (c *calls) takeBack()     { c.takeBacks++ }
func (c *calls) resume() error { c.resumes++; return nil }
func (c *calls) discard()      { c.discards++ }

func TestLedgerSourceTransitions(t *testing.T) {
	if _, err := NewLedger(nil).BeginSend(NewID(), "b"); err == nil {
		t.Fatal("sent a guest the board does not have")
	}
	g := NewGuest()
	l := NewLedger(g)
	var logged []string
	l.Log = func(s string) { logged = append(logged, s) }
	id := NewID()
	sess, err := l.BeginSend(id, "b")
	if err != nil || sess.ID != id || sess.Guest != g.Guest || sess.Epoch != 0 {
		t.Fatal(sess, err)
	}
	if _, err := l.BeginSend(NewID(), "b"); !errors.Is(err, ErrBusy) {
		t.Fatalf("second migration: %v", err)
	}
	if err := l.BeginReceive(Session{ID: NewID(), Guest: NewID()}, "c", nil); !errors.Is(err, ErrBusy) {
		t.Fatalf("receive while sending: %v", err)
	}
	// Another board's question changes nothing.
	if v := l.Answer(id, "c"); v != Unknown || !l.Pending(id, Sending) {
		t.Fatalf("answer to a stranger: %v", v)
	}
	var c calls
	if v := l.Decide(id, Committed, "", c.giveUp, c.takeBack); v != Committed || !l.Pending(id, Committing) {
		t.Fatalf("decide: %v", v)
	}
	if v := l.Answer(id, "b"); v != Committed {
		t.Fatalf("answer while committing: %v", v)
	}
	// The destination saying nothing decisive keeps the guest parked.
	if v, err := l.Heard(id, Unknown, "b", ""); v != Committed || err != nil || c.giveUps+c.takeBacks != 0 {
		t.Fatal(v, err, c)
	}
	if _, err := l.Heard(id, Committed, "c", ""); !errors.Is(err, ErrUnknown) || c.giveUps != 0 {
		t.Fatalf("a stranger confirmed: %v", err)
	}
	cur, _ := l.Status()
	if cur.Role != RoleSource || cur.Phase != Committing || cur.Peer != "b" || cur.Session.ID != id {
		t.Fatalf("status %+v", cur)
	}
	if v, err := l.Heard(id, Committed, "b", "confirmed late"); v != Committed || err != nil || c.giveUps != 1 {
		t.Fatal(v, err, c)
	}
	if want := "migration " + id.String() + ` (source, with "b"): committed and confirmed (confirmed late)`; len(logged) != 1 || logged[0] != want {
		t.Fatalf("logged %q, want %q", logged, want)
	}
	// Heard again (a late answer): nothing more happens.
	if v, _ := l.Heard(id, Aborted, "b", ""); v != Committed || c.takeBacks != 0 {
		t.Fatal(v, c)
	}
	if _, ok := l.Guest(); ok {
		t.Fatal("the source still has the guest")
	}
	cur, ds := l.Status()
	if cur != nil || len(ds) != 1 || ds[0].Verdict != Committed || !ds[0].Confirmed || ds[0].Role != RoleSource {
		t.Fatalf("status %+v %+v", cur, ds)
	}
	if v := l.Answer(id, "b"); v != Committed {
		t.Fatalf("answer after: %v", v)
	}
	// The guest comes back at the next epoch, not at this one.
	if err := l.BeginReceive(Session{ID: NewID(), Guest: g.Guest, Epoch: 0}, "b", c.discard); !errors.Is(err, ErrReplayed) {
		t.Fatalf("stale epoch: %v", err)
	}
	if err := l.BeginReceive(Session{ID: id, Guest: g.Guest, Epoch: 1}, "b", c.discard); !errors.Is(err, ErrReplayed) {
		t.Fatalf("replayed id: %v", err)
	}
	back := NewID()
	if err := l.BeginReceive(Session{ID: back, Guest: g.Guest, Epoch: 1}, "b", c.discard); err != nil {
		t.Fatal(err)
	}
	if err := l.Prepare(back, c.resume); err != nil {
		t.Fatal(err)
	}
	if v, err := l.Resolve(back, Committed, "b", ""); v != Committed || err != nil || c.resumes != 1 {
		t.Fatal(v, err, c)
	}
	if s, ok := l.Guest(); !ok || s.Guest != g.Guest || s.Epoch != 2 {
		t.Fatalf("guest %+v %v", s, ok)
	}
	if _, err := l.BeginSend(id, "b"); !errors.Is(err, ErrReplayed) {
		t.Fatalf("id reused: %v", err)
	}
}

func TestLedgerAbortBeforeAck(t *testing.T) {
	l := NewLedger(NewGuest())
	id := NewID()
	l.BeginSend(id, "b")
	if v := l.Answer(id, "b"); v != Aborted {
		t.Fatalf("query before the decision: %v", v)
	}
	var c calls
	if v := l.Decide(id, Committed, "", c.giveUp, c.takeBack); v != Aborted {
		t.Fatalf("a late Ack committed: %v", v)
	}
	if _, ok := l.Guest(); !ok {
		t.Fatal("the guest was lost")
	}
	if _, err := l.Force(id, Committed); err == nil {
		t.Fatal("the operator committed an aborted migration")
	}
	if _, err := l.BeginSend(NewID(), "b"); err != nil {
		t.Fatalf("next migration: %v", err)
	}
}

func TestLedgerDestinationTransitions(t *testing.T) {
	if err := NewLedger(NewGuest()).BeginReceive(Session{ID: NewID(), Guest: NewID()}, "a", nil); err == nil {
		t.Fatal("took a guest on a board that has one")
	}
	l := NewLedger(nil)
	var c calls
	if err := l.BeginReceive(Session{}, "a", c.discard); !errors.Is(err, ErrInvalid) {
		t.Fatalf("no ids: %v", err)
	}
	s := Session{ID: NewID(), Guest: NewID(), Epoch: 4}
	if err := l.BeginReceive(s, "a", c.discard); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Resolve(s.ID, Committed, "a", ""); !errors.Is(err, ErrUnknown) || c.resumes != 0 {
		t.Fatalf("committed before its Ack: %v", err)
	}
	if err := l.Prepare(s.ID, c.resume); err != nil {
		t.Fatal(err)
	}
	l.Doubt(s.ID, "no verdict")
	if cur, _ := l.Status(); cur.InDoubt != "no verdict" || cur.Phase != Prepared || cur.Session.Epoch != 4 {
		t.Fatalf("status %+v", cur)
	}
	// A board other than the source cannot decide.
	for _, v := range []Verdict{Committed, Aborted} {
		if _, err := l.Resolve(s.ID, v, "c", ""); !errors.Is(err, ErrUnknown) || c.resumes+c.discards != 0 {
			t.Fatalf("stranger's %v: %v", v, err)
		}
	}
	if v, err := l.Resolve(s.ID, Unknown, "a", ""); v != Unknown || err != nil || !l.Pending(s.ID, Prepared) {
		t.Fatalf("no verdict: %v %v", v, err)
	}
	if v, err := l.Resolve(s.ID, Aborted, "a", ""); v != Aborted || err != nil || c.discards != 1 {
		t.Fatal(v, err, c)
	}
	if v, err := l.Resolve(s.ID, Committed, "a", ""); v != Aborted || err != nil || c.resumes != 0 {
		t.Fatalf("committed after the abort: %v %v", v, err)
	}
	if _, ok := l.Guest(); ok {
		t.Fatal("a discarded guest is here")
	}
}

func TestLedgerFailAndForce(t *testing.T) {
	l := NewLedger(nil)
	var c calls
	s := Session{ID: NewID(), Guest: NewID()}
	l.BeginReceive(s, "a", c.discard)
	l.Fail(s.ID, "digest mismatch")
	if c.discards != 1 || l.Pending(s.ID, Receiving) {
		t.Fatal(c)
	}
	if err := l.Prepare(s.ID, c.resume); err == nil {
		t.Fatal("prepared a failed migration")
	}
	if _, err := l.Force(NewID(), Committed); !errors.Is(err, ErrUnknown) {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := l.Force(s.ID, Unknown); err == nil {
		t.Fatal("forced no verdict")
	}
	src := NewLedger(NewGuest())
	id := NewID()
	src.BeginSend(id, "b")
	if _, err := src.Force(id, Committed); err == nil {
		t.Fatal("the operator committed a migration with no Ack")
	}
	if v, err := src.Force(id, Aborted); v != Aborted || err != nil {
		t.Fatal(v, err)
	}
	if v := src.Decide(id, Committed, "", c.giveUp, c.takeBack); v != Aborted || c.giveUps != 0 {
		t.Fatalf("decided after the operator aborted: %v", v)
	}
}

func TestLedgerRemembersALimitedPast(t *testing.T) {
	l := NewLedger(nil)
	first := NewID()
	for i := range 3 * maxPast {
		id := NewID()
		if i == 0 {
			id = first
		}
		if err := l.BeginReceive(Session{ID: id, Guest: NewID()}, "a", func() {}); err != nil {
			t.Fatal(err)
		}
		l.Fail(id, "")
	}
	if _, ds := l.Status(); len(ds) != maxPast {
		t.Fatalf("%d decisions kept", len(ds))
	}
	if _, err := l.Force(first, Aborted); !errors.Is(err, ErrUnknown) {
		t.Fatalf("oldest: %v", err)
	}
}

func TestLedgerStrictTakesOnlyAnnouncedMigrations(t *testing.T) {
	l := NewLedger(nil)
	l.Strict = true
	s := Session{ID: NewID(), Guest: NewID()}
	if err := l.BeginReceive(s, "a", func() {}); err == nil || !strings.Contains(err.Error(), "not announced") {
		t.Fatalf("unannounced: %v", err)
	}
	if err := l.Expect(ID{}, "a", time.Now().Add(time.Minute)); err == nil {
		t.Fatal("announced a migration without an ID")
	}
	l.Expect(s.ID, "a", time.Now().Add(time.Minute))
	if err := l.BeginReceive(s, "c", func() {}); err == nil || !strings.Contains(err.Error(), `expected from "a", not "c"`) {
		t.Fatalf("from another board: %v", err)
	}
	late := Session{ID: NewID(), Guest: NewID()}
	l.Expect(late.ID, "a", time.Now().Add(-time.Second))
	if err := l.BeginReceive(late, "a", func() {}); err == nil || !strings.Contains(err.Error(), "was expected until") {
		t.Fatalf("late: %v", err)
	}
	if err := l.BeginReceive(s, "a", func() {}); err != nil {
		t.Fatal(err)
	}
	l.Fail(s.ID, "")
	// The announcement was used up, and the ID is spent.
	if err := l.Expect(s.ID, "a", time.Now().Add(time.Minute)); !errors.Is(err, ErrReplayed) {
		t.Fatalf("announcing a spent ID: %v", err)
	}
	for range 2 * maxExpected {
		l.Expect(NewID(), "a", time.Now().Add(time.Minute))
	}
	if len(l.want) != maxExpected {
		t.Fatalf("%d announcements kept", len(l.want))
	}
}
