// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"strings"
	"testing"
)

// doubt gives a's ledger a committing migration to b and b's a prepared
// one from a, as a partition right after the Ack leaves them, each able
// to reach the other through its dial (a link that came back).
func doubt(t *testing.T, a, b *board) (ID, *int, *int) {
	t.Helper()
	id := NewID()
	sess, err := a.l.BeginSend(id, b.name)
	if err != nil {
		t.Fatal(err)
	}
	a.l.reach(id, b.dial, commitTimeout)
	var giveUps, takeBacks int
	a.l.Decide(id, Committed, "", func() { giveUps++ }, func() { takeBacks++ })
	if err := b.l.BeginReceive(sess, a.name, b.dst.Discard); err != nil {
		t.Fatal(err)
	}
	b.l.reach(id, a.dial, commitTimeout)
	if err := b.l.Prepare(id, b.dst.Resume); err != nil {
		t.Fatal(err)
	}
	return id, &giveUps, &takeBacks
}

// The destination resumed the guest but its Resumed was lost; the
// operator, told the destination is gone, aborts on the source. The
// source asks the destination first: it runs the guest, so the abort is
// refused and the source gives the guest up -- it does not run twice.
func TestOperatorAbortRefusedWhenTheDestinationRuns(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	id, giveUps, takeBacks := doubt(t, a, b)
	if v, err := b.l.Resolve(id, Committed, a.name, "Commit arrived, Resumed lost"); v != Committed || err != nil {
		t.Fatal(v, err)
	}
	v, err := a.l.Force(id, Aborted)
	if v != Committed || err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the operator's abort on the source: %v %v", v, err)
	}
	t.Log(err)
	if *takeBacks != 0 || *giveUps != 1 {
		t.Fatalf("source: %d take-backs, %d give-ups: the guest ran twice", *takeBacks, *giveUps)
	}
	if _, res, d := b.dst.counts(); res != 1 || d != 0 {
		t.Fatalf("destination: %d resumes, %d discards", res, d)
	}
}

// The source took the guest back (the destination was thought gone); the
// destination comes back and the operator commits it: it asks the source
// first, hears aborted, and discards rather than run a second copy.
func TestOperatorCommitRefusedWhenTheSourceRuns(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	id, giveUps, takeBacks := doubt(t, a, b)
	b.down.Store(true)
	if v, err := a.l.Force(id, Aborted); v != Aborted || err != nil {
		t.Fatalf("the operator takes the guest back on the source: %v %v", v, err)
	}
	if *takeBacks != 1 || *giveUps != 0 {
		t.Fatalf("source: %d take-backs, %d give-ups", *takeBacks, *giveUps)
	}
	b.down.Store(false)
	v, err := b.l.Force(id, Committed)
	if v != Aborted || err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("the operator's commit on the destination: %v %v", v, err)
	}
	t.Log(err)
	if _, res, d := b.dst.counts(); res != 0 || d != 1 {
		t.Fatalf("destination: %d resumes, %d discards: the guest ran twice", res, d)
	}
}

// A peer that does not answer leaves the operator's verdict to apply, and
// says why in the decision's note.
func TestOperatorVerdictWhenThePeerIsDown(t *testing.T) {
	a, b := pair(t, smallFingerprint())
	id, giveUps, takeBacks := doubt(t, a, b)
	b.down.Store(true)
	if v, err := a.l.Force(id, Aborted); v != Aborted || err != nil {
		t.Fatalf("%v %v", v, err)
	}
	if *takeBacks != 1 || *giveUps != 0 {
		t.Fatalf("source: %d take-backs, %d give-ups", *takeBacks, *giveUps)
	}
	if _, ds := a.l.Status(); !strings.Contains(ds[0].Note, "its peer did not settle it") {
		t.Errorf("note %q", ds[0].Note)
	}
}
