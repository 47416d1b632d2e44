// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package manage

import (
	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/hyp"
	"github.com/ferry-hv/ferry/migrate"
)

// The API's strings for hyp's and migrate's typed states are chosen here,
// and only here: the wire format of the management API is manage's.

// Guest is the API's name for a guest state.
func Guest(s hyp.GuestState) string {
	switch s {
	case hyp.GuestNone:
		return api.GuestNone
	case hyp.GuestRunning:
		return api.GuestRunning
	case hyp.GuestPaused:
		return api.GuestPaused
	case hyp.GuestMigrated:
		return api.GuestMigrated
	case hyp.GuestStopped:
		return api.GuestStopped
	case hyp.GuestOff:
		return api.GuestOff
	}
	return s.String()
}

func role(r migrate.Role) string {
	switch r {
	case migrate.RoleSource:
		return api.MigrationSource
	case migrate.RoleDestination:
		return api.MigrationDestination
	}
	return r.String()
}

// Migration is the API's view of a ledger's status (migrate.Ledger.Status).
func Migration(cur *migrate.Current, past []migrate.Decided) (*api.Migration, []api.Decision) {
	var m *api.Migration
	if cur != nil {
		m = &api.Migration{ID: cur.Session.ID.String(), Role: role(cur.Role), Phase: cur.Phase.String(), Peer: cur.Peer,
			Since: cur.Since, InDoubt: cur.InDoubt, Guest: cur.Session.Guest.String(), Epoch: cur.Session.Epoch}
	}
	ds := make([]api.Decision, len(past))
	for i, d := range past {
		ds[i] = api.Decision{ID: d.Session.ID.String(), Role: role(d.Role), Verdict: d.Verdict.String(),
			Peer: d.Peer, Confirmed: d.Confirmed, Note: d.Note, Ago: d.Ago}
	}
	return m, ds
}
