// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package manage

import (
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/migrate"
)

func TestGuestStates(t *testing.T) {
	want := map[hyp.GuestState]string{
		hyp.GuestNone: api.GuestNone, hyp.GuestRunning: api.GuestRunning, hyp.GuestPaused: api.GuestPaused,
		hyp.GuestMigrated: api.GuestMigrated, hyp.GuestStopped: api.GuestStopped, hyp.GuestOff: api.GuestOff,
	}
	seen := map[string]bool{}
	for s, w := range want {
		if got := Guest(s); got != w || seen[got] {
			t.Errorf("Guest(%v) = %q, want %q (once)", s, got, w)
		}
		seen[w] = true
	}
}

func TestMigrationStatus(t *testing.T) {
	id, guest := migrate.NewID(), migrate.NewID()
	cur := &migrate.Current{Session: migrate.Session{ID: id, Guest: guest, Epoch: 3}, Role: migrate.RoleDestination,
		Phase: migrate.Prepared, Peer: "a", Since: time.Second, InDoubt: "no verdict"}
	past := []migrate.Decided{{Session: migrate.Session{ID: id}, Role: migrate.RoleSource, Verdict: migrate.Committed, Peer: "b", Confirmed: true, Note: "n", Ago: time.Minute}}
	m, ds := Migration(cur, past)
	if *m != (api.Migration{ID: id.String(), Role: api.MigrationDestination, Phase: "prepared", Peer: "a", Since: time.Second,
		InDoubt: "no verdict", Guest: guest.String(), Epoch: 3}) {
		t.Errorf("Migration = %+v", m)
	}
	if len(ds) != 1 || ds[0] != (api.Decision{ID: id.String(), Role: api.MigrationSource, Verdict: "committed", Peer: "b", Confirmed: true, Note: "n", Ago: time.Minute}) {
		t.Errorf("Decisions = %+v", ds)
	}
	if m, ds := Migration(nil, nil); m != nil || len(ds) != 0 {
		t.Errorf("none: %+v %+v", m, ds)
	}
}
