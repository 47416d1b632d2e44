// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/manage"
	"github.com/ferry-hv/ferry/migrate"
)

// linkMargin is what ferryctl waits, by default, beyond the board's own
// deadline (the migration's max time plus manage.TimeoutMargin).
const linkMargin = 30 * time.Second

// defaultTimeout is how long migrate waits for the report unless -timeout
// says: long enough for a migration that runs its max time.
func defaultTimeout(maxTime time.Duration) time.Duration {
	return maxTime + manage.TimeoutMargin + linkMargin
}

var migrateCommand = command{
	usage: "FROM TO",
	help: "move the guest running on board FROM to board TO, showing progress; print the report.\n" +
		"           Interrupting ferryctl does not stop the migration: ferryctl cancel FROM does",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		downtime := fs.Duration("downtime", api.DefaultDowntimeLimit, "the longest the guest should be stopped, at most 10s")
		var bandwidth bandwidthFlag
		fs.Var(&bandwidth, "bandwidth", "cap the migration stream at `bytes` per second: a number or with KiB, MiB, GiB (50MiB); 0: no cap")
		maxTime := fs.Duration("max-time", api.DefaultMaxTime, "give up a migration that has not converged by then, at most 1h; the guest runs on at the source")
		noConverge := fs.Bool("no-auto-converge", false, "do not slow down a guest that dirties memory faster than it is sent")
		resetNIC := fs.Bool("reset-nic", false, "at the pause, reset a guest NIC whose device still holds requests (status: nic held) and give them back to the guest unused, rather than fail")
		timeout := fs.Duration("timeout", 0, "give up waiting for the report after `duration` (0: -max-time plus "+durationString(manage.TimeoutMargin+linkMargin)+")")
		poll := fs.Duration("poll", 250*time.Millisecond, "progress polling `interval`")
		asJSON := fs.Bool("json", false, "print the report as JSON")
		return func(args []string) error {
			if len(args) != 2 {
				return usageError{"want the source and the destination boards' addresses"}
			}
			from, err := apiAddr(args[0], api.APIPort)
			if err != nil {
				return err
			}
			to := args[1]
			if _, err := apiAddr(to, api.MigrationPort); err != nil {
				return err
			}
			id := migrate.NewID().String()
			req := api.MigrateRequest{To: to, ID: id, DowntimeLimit: *downtime, Bandwidth: uint64(bandwidth), MaxTime: *maxTime, NoAutoConverge: *noConverge, ResetNIC: *resetNIC}
			// The board checks the same; a mistake is caught before the link.
			if _, err := manage.Settings(req); err != nil {
				return usageError{err.Error()}
			}
			wait := *timeout
			if wait <= 0 {
				wait = defaultTimeout(*maxTime)
			}
			ctx, cancel := context.WithTimeout(e.ctx, wait)
			defer cancel()
			s, err := e.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			// Written down before asking: whatever happens to the request,
			// the operator can ask after this migration by its ID.
			if err := e.record(journalEntry{ID: id, From: from, To: to, Event: "requested"}); err != nil {
				return err
			}
			crl, err := e.newestCRL(s.bundle)
			if err != nil {
				return err
			}
			req.CRL = crl.number()
			if req.Board, err = announce(ctx, e, s, from, to, id, *maxTime, crl); err != nil {
				return err
			}
			rep, err := migrateOnce(ctx, e, s, from, req, *poll)
			if err != nil {
				hint := fmt.Sprintf("migration %s may still be running on the board; stop it with: ferryctl cancel %s; see where it stands with: ferryctl status %s", id, args[0], args[0])
				switch {
				case errors.Is(ctx.Err(), context.DeadlineExceeded):
					err = fmt.Errorf("no report from %s within %v (%s): %w", from, wait, hint, err)
				case ctx.Err() != nil:
					err = fmt.Errorf("interrupted (%s): %w", hint, err)
				}
				return err
			}
			if *asJSON {
				b, _ := json.MarshalIndent(rep, "", "  ")
				fmt.Fprintf(e.stdout, "%s\n", b)
			} else {
				printReport(e.stdout, rep)
			}
			v := migrate.Aborted.String()
			if rep.OK {
				v = migrate.Committed.String()
			}
			if err := e.record(journalEntry{ID: id, From: from, To: to, Event: "report", Verdict: v, Confirmed: rep.Confirmed, Note: rep.Error + rep.InDoubt}); err != nil {
				return err
			}
			switch {
			case rep.OK && !rep.Confirmed:
				return fmt.Errorf("migration %s from %s to %s is committed but unconfirmed: %s; both boards keep the guest until it is; "+
					"they keep trying, and ferryctl resolve %s %s ends it if one of them is gone", id, rep.From, rep.To, rep.InDoubt, args[0], args[1])
			case rep.OK:
				return nil
			case strings.Contains(rep.Error, manage.ErrCancelled.Error()):
				return fmt.Errorf("migration from %s to %s was cancelled; the guest runs on at the source: %s", rep.From, rep.To, rep.Error)
			}
			return fmt.Errorf("migration from %s to %s failed: %s", rep.From, rep.To, rep.Error)
		}
	},
}

// announce tells the destination to expect migration id from the source,
// to start within its max time and the margin and to reach its Ack within
// the same (the destination gives it up then), and returns the
// destination's name, which the source then checks: each board is asked
// who it is (its certificate's name) first.
//
// Each board whose revocation list is older than ferryctl's newest (crl)
// is given it first: it restarted and forgot it, and refuses the
// migration until it has it.
func announce(ctx context.Context, e *env, s *session, from, to, id string, maxTime time.Duration, crl crlSync) (string, error) {
	c := s.client()
	defer c.close()
	host, _, err := net.SplitHostPort(to)
	if err != nil {
		host = to
	}
	toAPI := net.JoinHostPort(host, strconv.Itoa(api.APIPort))
	srcSt, src, err := c.status(ctx, from)
	if err != nil {
		return "", fmt.Errorf("asking the source who it is: %w", err)
	}
	if srcSt.Guest == api.GuestOff {
		return "", fmt.Errorf("the source's guest powered itself off (%s): there is nothing to move", srcSt.GuestPower)
	}
	dstSt, dst, err := c.status(ctx, toAPI)
	if err != nil {
		return "", fmt.Errorf("asking the destination who it is: %w", err)
	}
	if err := crl.push(ctx, c, e.stderr, from, srcSt, crlPushTimeout); err != nil {
		return "", err
	}
	if err := crl.push(ctx, c, e.stderr, toAPI, dstSt, crlPushTimeout); err != nil {
		return "", err
	}
	srcHost, _, err := net.SplitHostPort(from)
	if err != nil {
		srcHost = from
	}
	req := api.ExpectRequest{ID: id, From: src, Within: maxTime + manage.TimeoutMargin, MaxTime: maxTime, CRL: crl.number()}
	if a, err := netip.ParseAddr(srcHost); err == nil {
		req.Address = a.String() // its connections get the slots kept for known peers
	}
	code, data, _, err := c.do(ctx, http.MethodPost, toAPI, api.PathExpect, req)
	if err != nil {
		return "", fmt.Errorf("announcing the migration to the destination: %w", err)
	}
	if code != http.StatusOK {
		return "", answerError("POST", toAPI, api.PathExpect, code, data)
	}
	return dst, nil
}

// migrateOnce asks from to move its guest as req says and waits for the
// report, polling progress on a second connection meanwhile.
func migrateOnce(ctx context.Context, e *env, s *session, from string, req api.MigrateRequest, poll time.Duration) (api.Report, error) {
	type result struct {
		rep api.Report
		err error
	}
	done := make(chan result, 1)
	mc := s.client()
	defer mc.close()
	go func() {
		rep, err := postMigrate(ctx, mc, from, req)
		done <- result{rep, err}
	}()

	pc := s.client() // its own connection: the first is busy until the end
	defer pc.close()
	view := newProgressView(e.stderr)
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		select {
		case r := <-done:
			view.finish()
			return r.rep, r.err
		case <-t.C:
			pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			var p api.Progress
			_, err := pc.getJSON(pctx, from, api.PathMigration, &p)
			cancel()
			if err == nil {
				view.update(p)
			} else if ctx.Err() == nil {
				view.pollError(err)
			}
		}
	}
}

// postMigrate sends the request and reads the Report. A board that does
// not start the migration (bad request, one already running, nothing to
// move) answers an error status with {"error": "..."}.
func postMigrate(ctx context.Context, c *client, from string, req api.MigrateRequest) (api.Report, error) {
	code, data, _, err := c.do(ctx, http.MethodPost, from, api.PathMigrate, req)
	if err != nil {
		return api.Report{}, err
	}
	if code != http.StatusOK {
		return api.Report{}, answerError("POST", from, api.PathMigrate, code, data)
	}
	var rep api.Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return rep, fmt.Errorf("POST https://%s%s: bad report: %v", from, api.PathMigrate, err)
	}
	return rep, nil
}

// switchReasons explain Report.Switch.
var switchReasons = map[string]string{
	"fits":    "the rest fit the downtime limit",
	"stalled": "pre-copy stopped converging",
	"":        "never (the migration ended before its switchover)",
}

// printReport prints a migration report: the settings, the result, the
// downtime part by part, then a table of the rounds.
func printReport(w io.Writer, r api.Report) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	result := "ok"
	if !r.OK {
		result = "FAILED"
	}
	fmt.Fprintf(tw, "migration\t%s\n", result)
	if r.ID != "" {
		fmt.Fprintf(tw, "id\t%s\n", r.ID)
	}
	switch {
	case r.OK && r.Confirmed:
		fmt.Fprintf(tw, "outcome\tcommitted and confirmed: the guest runs on the destination\n")
	case r.OK:
		fmt.Fprintf(tw, "outcome\tcommitted, unconfirmed: %s\n", r.InDoubt)
	default:
		fmt.Fprintf(tw, "outcome\taborted: the guest runs on at the source\n")
	}
	if r.Error != "" {
		fmt.Fprintf(tw, "error\t%s\n", r.Error)
	}
	fmt.Fprintf(tw, "from\t%s\n", r.From)
	fmt.Fprintf(tw, "to\t%s\n", r.To)
	fmt.Fprintf(tw, "settings\t%s\n", settingsString(r.Settings))
	fmt.Fprintf(tw, "bytes\t%s\n", bytesString(r.Bytes))
	fmt.Fprintf(tw, "pages\t%d (zero %d, non-zero %d)\n", r.Pages, r.ZeroPages, r.DataPages)
	fmt.Fprintf(tw, "total time\t%s\n", durationString(r.Total))
	fmt.Fprintf(tw, "downtime\t%s\n", durationString(r.Downtime))
	restore := r.Parts.Restore
	if restore == 0 {
		restore = r.RestoreTime
	}
	parts := []struct {
		name string
		d    time.Duration
		note string
	}{
		{"  stop", r.Parts.Stop, "asking the guest to stop until it stopped"},
		{"  pages", r.Parts.Pages, "the last dirty pages"},
		{"  state", r.Parts.State, "machine state and End"},
		{"  ack", r.Parts.Ack, "End sent to Ack received"},
		{"    restore", restore, "the destination's check and restore, as it measured them: overlaps state and ack"},
		{"  commit", r.Parts.Commit, "Ack to Commit, and the destination's resume"},
	}
	if r.Parts != (api.Downtime{}) || restore != 0 {
		for _, part := range parts {
			fmt.Fprintf(tw, "%s\t%s\t(%s)\n", part.name, durationString(part.d), part.note)
		}
	}
	if r.Overrun != "" {
		fmt.Fprintf(tw, "overrun\t%s\n", r.Overrun)
	}
	reason, ok := switchReasons[r.Switch]
	if !ok {
		reason = r.Switch
	} else if r.Switch != "" {
		reason = r.Switch + ": " + reason
	}
	fmt.Fprintf(tw, "switch\t%s\n", reason)
	fmt.Fprintf(tw, "throttle\t%s (auto-converge's last cut of the guest's CPU time)\n", percent(r.Throttle))
	fmt.Fprintf(tw, "tracking\t%s (splitting and write-protecting RAM)\n", durationString(r.Tracking))
	fmt.Fprintf(tw, "sync\t%s (before the stop, the destination catching up with what was sent)\n", durationString(r.Sync))
	fmt.Fprintf(tw, "untrack\t%s (back on 2 MiB blocks)\n", durationString(r.Untrack))
	fmt.Fprintf(tw, "dirty faults\t%d (%s each in Ferry's handler)\n", r.Faults, durationString(time.Duration(r.FaultNS)))
	fmt.Fprintf(tw, "guest cpu\t%s (the guest's share of the CPU during pre-copy)\n", percent(r.GuestCPU))
	fmt.Fprintf(tw, "source time\tencode %s, digest %s, write %s (TLS, netstack, NIC, waits), guest slices %s\n",
		durationString(r.Costs.Encode), durationString(r.Costs.Digest), durationString(r.Costs.Write), durationString(r.Costs.Guest))
	tw.Flush()
	printRounds(w, r.Rounds)
}

// settingsString prints what a migration ran with.
func settingsString(s api.MigrateRequest) string {
	bw := "no cap"
	if s.Bandwidth != 0 {
		b := bandwidthFlag(s.Bandwidth)
		bw = b.String() + "/s"
	}
	converge := "on"
	if s.NoAutoConverge {
		converge = "off"
	}
	nic := ""
	if s.ResetNIC {
		nic = ", guest NIC reset at the pause if its device holds requests"
	}
	return fmt.Sprintf("downtime limit %s, bandwidth %s, max time %s, auto-converge %s%s",
		durationString(s.DowntimeLimit), bw, durationString(s.MaxTime), converge, nic)
}

// printRounds prints a table of the pre-copy rounds.
func printRounds(w io.Writer, rounds []api.Round) {
	if len(rounds) == 0 {
		fmt.Fprintf(w, "rounds        none\n")
		return
	}
	fmt.Fprintf(w, "\nrounds:\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "n\tpages\tzero\tbytes\tduration\tdirty rate\tcpu share\tthrottle\tstopped\t\n")
	for _, r := range rounds {
		stopped := "no"
		if r.Stopped {
			stopped = "yes"
		}
		fmt.Fprintf(tw, "%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t\n", r.N, r.Pages, r.ZeroPages, shortBytes(float64(r.Bytes)),
			durationString(r.Duration), rateString(r.DirtyRate), percent(r.CPUShare), percent(r.Throttle), stopped)
	}
	tw.Flush()
}
