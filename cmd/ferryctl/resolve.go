// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/migrate"
)

var resolveCommand = command{
	usage: "BOARD [BOARD]",
	help: "end a migration in doubt (after a partition or a dead board) on exactly one board: the source's verdict,\n" +
		"           else ferryctl's journal's; -gone says a board is down for good and the other keeps the guest",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		id := fs.String("id", "", "the migration (default: the one in doubt on the boards)")
		gone := fs.String("gone", "", "the `address` of a board of the migration that is down for good and will never run the guest;\n"+
			"refused if it answers (within -timeout), and each board checks a verdict with its peer before applying it")
		timeout := fs.Duration("timeout", 10*time.Second, "give up on a board that does not answer after `duration` (one told a verdict gets 5s more: it checks the verdict with its peer first)")
		return func(args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{"want the addresses of the migration's boards (one if the other is gone)"}
			}
			var addrs []string
			for _, a := range args {
				addr, err := apiAddr(a, api.APIPort)
				if err != nil {
					return err
				}
				addrs = append(addrs, addr)
			}
			goneAddr := ""
			if *gone != "" {
				addr, err := apiAddr(*gone, api.APIPort)
				if err != nil {
					return err
				}
				goneAddr = addr
			}
			s, err := e.open(e.ctx)
			if err != nil {
				return err
			}
			defer s.close()
			c := s.client()
			defer c.close()
			crl, err := e.newestCRL(s.bundle)
			if err != nil {
				return err
			}
			r := &resolver{e: e, c: c, timeout: *timeout, id: *id, gone: goneAddr, crl: crl}
			return r.run(addrs)
		}
	},
}

type resolver struct {
	e       *env
	c       *client
	timeout time.Duration
	id      string
	gone    string  // -gone: a board down for good
	crl     crlSync // ferryctl's newest revocation list, pushed to a board with an older one
}

// seen is one board as resolve found it.
type seen struct {
	addr string
	st   *api.Status // nil: did not answer
	err  error
}

// role is the board's role in migration id, if it says.
func (b seen) role(id string) string {
	if b.st == nil {
		return ""
	}
	if m := b.st.Migration; m != nil && m.ID == id {
		return m.Role
	}
	for _, d := range b.st.Decisions {
		if d.ID == id {
			return d.Role
		}
	}
	return ""
}

// pending is the board's migration id in progress, if it is.
func (b seen) pending(id string) *api.Migration {
	if b.st != nil && b.st.Migration != nil && b.st.Migration.ID == id {
		return b.st.Migration
	}
	return nil
}

// decided is what the board decided for id, if it did.
func (b seen) decided(id string) string {
	if b.st == nil {
		return ""
	}
	for _, d := range b.st.Decisions {
		if d.ID == id {
			return d.Verdict
		}
	}
	return ""
}

// describe says what a board's status shows of migration id (or of the
// migration in progress, id ""): for the operator told it answers.
func describe(st api.Status, id string) string {
	what := fmt.Sprintf("board %q, guest %s", st.Board, st.Guest)
	if m := st.Migration; m != nil && (id == "" || m.ID == id) {
		what += fmt.Sprintf("; migration %s: %s, %s with %q", m.ID, m.Role, m.Phase, m.Peer)
		if m.InDoubt != "" {
			what += " (in doubt: " + m.InDoubt + ")"
		}
		return what
	}
	for _, d := range st.Decisions {
		if id == "" || d.ID == id {
			return what + fmt.Sprintf("; migration %s: %s, %s with %q", d.ID, d.Role, d.Verdict, d.Peer)
		}
	}
	return what + "; no migration in progress"
}

func (r *resolver) status(addr string) seen {
	ctx, cancel := context.WithTimeout(r.e.ctx, r.timeout)
	defer cancel()
	st, _, err := r.c.status(ctx, addr)
	if err != nil {
		fmt.Fprintf(r.e.stdout, "%s: no answer (%v)\n", addr, err)
		return seen{addr: addr, err: err}
	}
	return seen{addr: addr, st: &st}
}

// post tells the board at addr the verdict; the board first checks it
// with its peer, which may take migrate.MaxCheck more than the answer.
func (r *resolver) post(addr, id, verdict string) (string, error) {
	ctx, cancel := context.WithTimeout(r.e.ctx, r.timeout+migrate.MaxCheck)
	defer cancel()
	code, data, _, err := r.c.do(ctx, http.MethodPost, addr, api.PathResolve, api.ResolveRequest{ID: id, Verdict: verdict})
	if err != nil {
		return "", err
	}
	var ans api.ResolveRequest
	if code != http.StatusOK || json.Unmarshal(data, &ans) != nil {
		return "", answerError("POST", addr, api.PathResolve, code, data)
	}
	return ans.Verdict, nil
}

// run finds the migration in doubt and its boards' roles, works out the
// verdict and tells the destination, then the source:
//
//   - The verdict is the source's if it answers (committing is committed);
//     else the one in ferryctl's journal (the report it got); else, if the
//     source is -gone, committed: the destination holds the only copy.
//   - The destination resumes or discards the guest on that verdict.
//   - The source, committing, lets the guest go once the destination says
//     it runs there; if the destination is -gone, it takes the guest back.
//     A source whose destination does not answer keeps it parked.
//   - -gone names a board that does not answer: one that does is asked
//     first and the resolve refused. Each board, told a verdict, checks it
//     with its peer too (migrate.Ledger.Force).
func (r *resolver) run(addrs []string) error {
	if r.gone != "" && r.gone != addrs[0] && (len(addrs) == 1 || r.gone != addrs[1]) {
		return usageError{fmt.Sprintf("-gone %s: not one of the boards named", r.gone)}
	}
	var boards []seen
	for _, a := range addrs {
		b := r.status(a)
		if b.st != nil {
			if err := r.crl.push(r.e.ctx, r.c, r.e.stdout, a, *b.st, r.timeout); err != nil {
				return err
			}
		}
		boards = append(boards, b)
	}
	id := r.id
	if id == "" {
		for _, b := range boards {
			if b.st != nil && b.st.Migration != nil {
				id = b.st.Migration.ID
				break
			}
		}
		if id == "" {
			return fmt.Errorf("no migration in progress on the boards that answered; name one with -id")
		}
	}
	if _, err := migrate.ParseID(id); err != nil {
		return usageError{err.Error()}
	}
	// -gone is the operator's word that a board will never run the guest:
	// taken only from a board that does not answer, or answers without
	// knowing the migration (it restarted: it holds no copy). One that
	// knows it says for itself what it holds.
	for i, b := range boards {
		if b.addr != r.gone {
			continue
		}
		if b.st != nil && b.role(id) != "" {
			return fmt.Errorf("-gone %s: the board answers (%s): it is not gone, and what it holds decides; resolve without -gone",
				b.addr, describe(*b.st, id))
		}
		if b.st != nil {
			fmt.Fprintf(r.e.stdout, "%s: answers but does not know migration %s (did it restart?): it holds no copy; down for good (-gone)\n", b.addr, id)
		} else {
			fmt.Fprintf(r.e.stdout, "%s: down for good (-gone)\n", b.addr)
		}
		boards[i] = seen{addr: b.addr}
	}
	var src, dst *seen
	var other *seen // the board that did not answer, if one did not
	for i := range boards {
		switch boards[i].role(id) {
		case api.MigrationSource:
			src = &boards[i]
		case api.MigrationDestination:
			dst = &boards[i]
		default:
			other = &boards[i]
		}
	}
	if src == nil && dst == nil {
		return fmt.Errorf("neither board knows migration %s", id)
	}
	srcGone := src == nil && other != nil && other.addr == r.gone
	dstGone := dst == nil && other != nil && other.addr == r.gone

	verdict, by := "", ""
	if src != nil {
		if m := src.pending(id); m != nil {
			if m.Phase == "sending" {
				return fmt.Errorf("migration %s is still sending on %s: its own Ack or failure decides it; wait", id, src.addr)
			}
			verdict, by = migrate.Committed.String(), "the source ("+src.addr+") is committing"
		} else if v := src.decided(id); v != "" {
			verdict, by = v, "the source ("+src.addr+") decided "+v
		}
	}
	if verdict == "" {
		decided, _, err := r.e.lookup(id)
		if err != nil {
			return err
		}
		if decided.Verdict != "" {
			verdict, by = decided.Verdict, "ferryctl's journal ("+decided.Event+" at "+decided.At.Format(time.RFC3339)+")"
		}
	}
	if verdict == "" && srcGone {
		verdict, by = migrate.Committed.String(), "the source is gone for good (-gone): the destination holds the only copy"
	}
	if verdict == "" {
		return fmt.Errorf("migration %s: the source does not answer or does not know it, and the journal has no verdict; "+
			"the boards settle it themselves once they reach each other, or give -gone SOURCE if the source is down for good", id)
	}
	fmt.Fprintf(r.e.stdout, "migration %s: %s (%s)\n", id, verdict, by)

	// The destination first: it runs the guest or drops it.
	dstVerdict := ""
	switch {
	case dst != nil && dst.pending(id) != nil:
		got, err := r.post(dst.addr, id, verdict)
		if err != nil {
			return fmt.Errorf("telling the destination %s: %w", dst.addr, err)
		}
		dstVerdict = got
		fmt.Fprintf(r.e.stdout, "%s (destination): %s\n", dst.addr, got)
	case dst != nil:
		dstVerdict = dst.decided(id)
		fmt.Fprintf(r.e.stdout, "%s (destination): already %s\n", dst.addr, dstVerdict)
	case dstGone:
		dstVerdict = migrate.Aborted.String() // it will never run the guest
	}
	// Then the source: it lets the guest go, or takes it back, once the
	// destination's side is known.
	final := verdict
	if src != nil && src.pending(id) != nil {
		if dstVerdict == "" {
			return fmt.Errorf("the source %s keeps the guest parked: the destination does not answer; the boards settle it when they reach "+
				"each other, or give -gone DESTINATION if it is down for good (the source then resumes the guest)", src.addr)
		}
		got, err := r.post(src.addr, id, dstVerdict)
		if err != nil {
			return fmt.Errorf("telling the source %s: %w", src.addr, err)
		}
		how := "the destination runs the guest: the source let it go"
		if got == migrate.Aborted.String() {
			how = "the destination does not run the guest: the source resumed it"
		}
		fmt.Fprintf(r.e.stdout, "%s (source): %s (%s)\n", src.addr, got, how)
		final = got
	}
	if err := r.e.record(journalEntry{ID: id, Event: "resolved", Verdict: final, Note: by}); err != nil {
		return err
	}
	for _, b := range boards {
		if b.st == nil {
			continue
		}
		if m := r.status(b.addr).pending(id); m != nil {
			return fmt.Errorf("%s is still %s for migration %s", b.addr, m.Phase, id)
		}
	}
	return nil
}
