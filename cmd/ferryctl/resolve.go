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
	help: "end a migration in doubt (after a partition or a dead board) on exactly one board: the verdict is the\n" +
		"           source's, else ferryctl's journal's, else -verdict (the operator's word that the other board is gone)",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		id := fs.String("id", "", "the migration (default: the one in doubt on the boards)")
		verdict := fs.String("verdict", "", "`committed` or `aborted`, when neither the source nor the journal can say")
		timeout := fs.Duration("timeout", 10*time.Second, "give up on a board that does not answer after `duration`")
		return func(args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return usageError{"want the addresses of the migration's boards (one if the other is gone)"}
			}
			if *verdict != "" && *verdict != migrate.Committed.String() && *verdict != migrate.Aborted.String() {
				return usageError{fmt.Sprintf("-verdict %q: want committed or aborted", *verdict)}
			}
			var addrs []string
			for _, a := range args {
				addr, err := apiAddr(a, api.APIPort)
				if err != nil {
					return err
				}
				addrs = append(addrs, addr)
			}
			s, err := e.open(e.ctx)
			if err != nil {
				return err
			}
			defer s.close()
			c := s.client()
			defer c.close()
			r := &resolver{e: e, c: c, timeout: *timeout, id: *id, verdict: *verdict}
			return r.run(addrs)
		}
	},
}

type resolver struct {
	e       *env
	c       *client
	timeout time.Duration
	id      string
	verdict string // -verdict
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

func (r *resolver) post(addr, id, verdict string) (string, error) {
	ctx, cancel := context.WithTimeout(r.e.ctx, r.timeout)
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

func (r *resolver) run(addrs []string) error {
	var boards []seen
	for _, a := range addrs {
		boards = append(boards, r.status(a))
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
	var src, dst *seen
	for i := range boards {
		switch boards[i].role(id) {
		case api.MigrationSource:
			src = &boards[i]
		case api.MigrationDestination:
			dst = &boards[i]
		}
	}

	// The verdict: the source decides; failing it, the journal; failing
	// that, the operator.
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
	switch {
	case verdict == "" && r.verdict == "":
		return fmt.Errorf("migration %s: the source does not answer or does not know it, and the journal has no verdict; "+
			"if you know the source is gone for good, give -verdict committed (resume on the destination) or aborted", id)
	case verdict == "":
		verdict, by = r.verdict, "the operator (-verdict)"
	case r.verdict != "" && r.verdict != verdict:
		return fmt.Errorf("migration %s: -verdict %s contradicts %s: %s", id, r.verdict, by, verdict)
	}
	fmt.Fprintf(r.e.stdout, "migration %s: %s, by %s\n", id, verdict, by)

	// The destination first: it runs the guest or drops it.
	dstVerdict := ""
	if dst != nil {
		if dst.pending(id) != nil {
			got, err := r.post(dst.addr, id, verdict)
			if err != nil {
				return fmt.Errorf("telling the destination %s: %w", dst.addr, err)
			}
			dstVerdict = got
			fmt.Fprintf(r.e.stdout, "%s (destination): %s\n", dst.addr, got)
		} else {
			dstVerdict = dst.decided(id)
			fmt.Fprintf(r.e.stdout, "%s (destination): already %s\n", dst.addr, dstVerdict)
		}
	}
	// Then the source: it lets the guest go, or takes it back, once the
	// destination's side is known -- or on the operator's word.
	if src != nil && src.pending(id) != nil {
		v, why := dstVerdict, "the destination's"
		if v == "" && r.verdict != "" {
			v, why = r.verdict, "the operator's word that the destination is gone"
		}
		if v == "" {
			return fmt.Errorf("the source %s keeps the guest parked: the destination did not answer; run again when it does, "+
				"or give -verdict aborted if it is gone for good (the source then resumes the guest)", src.addr)
		}
		got, err := r.post(src.addr, id, v)
		if err != nil {
			return fmt.Errorf("telling the source %s: %w", src.addr, err)
		}
		fmt.Fprintf(r.e.stdout, "%s (source): %s (%s)\n", src.addr, got, why)
	}
	if err := r.e.record(journalEntry{ID: id, Event: "resolved", Verdict: verdict, Note: by}); err != nil {
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
