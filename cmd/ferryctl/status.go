// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ferry-hv/ferry/api"
)

var statusCommand = command{
	usage: "ADDR",
	help:  "print a board's status (GET /v1/status on ADDR, port 7000 unless given)",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		timeout := fs.Duration("timeout", 10*time.Second, "give up after `duration`")
		asJSON := fs.Bool("json", false, "print the board's JSON as it is")
		return func(args []string) error {
			if len(args) != 1 {
				return usageError{"want one board address"}
			}
			addr, err := apiAddr(args[0], api.APIPort)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, *timeout)
			defer cancel()
			s, err := e.open(ctx)
			if err != nil {
				return err
			}
			defer s.close()
			c := s.client()
			defer c.close()
			st, peer, err := c.status(ctx, addr)
			if err != nil {
				return timeoutHint(ctx, err, *timeout)
			}
			return printStatus(e.stdout, st, peer, *asJSON)
		}
	},
}

var waitCommand = command{
	usage: "ADDR",
	help:  "ask a board for its status until it answers, then print it",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		timeout := fs.Duration("timeout", 2*time.Minute, "give up after `duration`")
		every := fs.Duration("every", time.Second, "retry `interval`")
		asJSON := fs.Bool("json", false, "print the board's JSON as it is")
		return func(args []string) error {
			if len(args) != 1 {
				return usageError{"want one board address"}
			}
			addr, err := apiAddr(args[0], api.APIPort)
			if err != nil {
				return err
			}
			if _, err := e.linkConfig(); err != nil {
				return err
			}
			if _, err := e.loadKeys(); err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(e.ctx, *timeout)
			defer cancel()
			st, peer, err := waitStatus(ctx, e, addr, *every)
			if err != nil {
				return err
			}
			return printStatus(e.stdout, st, peer, *asJSON)
		}
	},
}

// waitStatus retries (joining the link, then asking addr) until addr
// answers or ctx ends; each attempt takes at most 10 s.
func waitStatus(ctx context.Context, e *env, addr string, every time.Duration) (api.Status, string, error) {
	var s *session
	var c *client
	defer func() {
		if s != nil {
			c.close()
			s.close()
		}
	}()
	var last error
	for attempt := 1; ; attempt++ {
		actx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if s != nil && s.net.Err() != nil { // the switch went away: join again
			c.close()
			s.close()
			s = nil
		}
		if s == nil {
			s, last = e.open(actx)
			if s != nil {
				c = s.client()
			}
		}
		if s != nil {
			st, peer, err := c.status(actx, addr)
			if err == nil {
				cancel()
				return st, peer, nil
			}
			last = err
		}
		cancel()
		if attempt == 1 {
			fmt.Fprintf(e.stderr, "ferryctl: waiting for %s: %v\n", addr, last)
		}
		select {
		case <-ctx.Done():
			return api.Status{}, "", fmt.Errorf("%s did not answer in time (%d attempt(s)); last error: %v", addr, attempt, last)
		case <-time.After(every):
		}
	}
}

// timeoutHint says which deadline ran out, when one did.
func timeoutHint(ctx context.Context, err error, d time.Duration) error {
	if ctx.Err() == context.DeadlineExceeded {
		return fmt.Errorf("no answer within %v: %w", d, err)
	}
	return err
}

// maxShown is how many past migrations status prints.
const maxShown = 5

func printStatus(w io.Writer, st api.Status, peer string, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(st)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "board\t%s\n", st.Board)
	if peer != st.Board {
		fmt.Fprintf(tw, "certificate\t%s\n", peer)
	}
	fmt.Fprintf(tw, "address\t%s\n", st.Address)
	fmt.Fprintf(tw, "role\t%s\n", st.Role)
	fmt.Fprintf(tw, "guest\t%s\n", guestState(st))
	fmt.Fprintf(tw, "uptime\t%s\n", durationString(st.Uptime))
	fmt.Fprintf(tw, "exits\t%d%s\n", st.Exits, exitCauses(st))
	if len(st.VCPUs) > 0 {
		var vs []string
		for i, v := range st.VCPUs {
			vs = append(vs, fmt.Sprintf("%d %s (MPIDR %#x, %d exits)", i, v.Power, v.MPIDR, v.Exits))
		}
		fmt.Fprintf(tw, "vcpus\t%s\n", strings.Join(vs, ", "))
	}
	for _, f := range st.NICFaults {
		fmt.Fprintf(tw, "nic fault\t%s\n", f)
	}
	for _, h := range st.NICHeld {
		fmt.Fprintf(tw, "nic held\t%s (a migration's pause fails; migrate -reset-nic gives the requests back to the guest unused)\n", h)
	}
	if st.GuestAborts > 0 || st.GuestUndefined > 0 {
		fmt.Fprintf(tw, "guest faults\t%d external abort(s), %d undefined instruction(s) given to the guest; newest: %s\n",
			st.GuestAborts, st.GuestUndefined, st.GuestFault)
	}
	if st.Stopped != "" {
		fmt.Fprintf(tw, "stopped by\t%s\n", st.Stopped)
	}
	fmt.Fprintf(tw, "heap\t%s\n", bytesString(st.Heap))
	if st.CRL.Number != "" {
		fmt.Fprintf(tw, "revocation list\t%s (%d revoked)\n", st.CRL.Number, st.CRL.Revoked)
	}
	if m := st.Migration; m != nil {
		fmt.Fprintf(tw, "migration\t%s: %s, %s with %q for %s (guest %s, epoch %d)\n", m.ID, m.Role, m.Phase, m.Peer, durationString(m.Since), m.Guest, m.Epoch)
		if m.InDoubt != "" {
			fmt.Fprintf(tw, "in doubt\t%s\n", m.InDoubt)
		}
	}
	for i, d := range st.Decisions {
		if i == maxShown {
			fmt.Fprintf(tw, "\t(%d more: -json)\n", len(st.Decisions)-i)
			break
		}
		confirmed := ""
		if d.Verdict == "committed" && !d.Confirmed {
			confirmed = ", unconfirmed"
		}
		note := ""
		if d.Note != "" {
			note = ": " + d.Note
		}
		fmt.Fprintf(tw, "decided\t%s: %s%s (%s, peer %q), %s ago%s\n", d.ID, d.Verdict, confirmed, d.Role, d.Peer, durationString(d.Ago), note)
	}
	return tw.Flush()
}

// guestState is status's guest line: the guest's state, and what it did
// with its power on the board -- "running (reset 2 times by itself, last
// SYSTEM_RESET 14s ago)", "off (powered off by itself: SYSTEM_OFF 3s
// ago)".
func guestState(st api.Status) string {
	s := st.Guest
	var what []string
	if st.Guest == api.GuestOff {
		what = append(what, fmt.Sprintf("powered off by itself: %s %s ago", st.GuestPower, durationString(st.GuestPowerAgo.Round(time.Second))))
	}
	if n := st.GuestResets; n > 0 {
		times := "times"
		if n == 1 {
			times = "time"
		}
		r := fmt.Sprintf("reset %d %s by itself", n, times)
		if st.Guest != api.GuestOff {
			r += fmt.Sprintf(", last %s %s ago", st.GuestPower, durationString(st.GuestPowerAgo.Round(time.Second)))
		}
		what = append(what, r)
	}
	if len(what) > 0 {
		s += " (" + strings.Join(what, "; ") + ")"
	}
	return s
}

// exitCauses is the exits' breakdown, with the mean time Ferry took to
// handle one of a cause where it is known: " (timer 12 at 4µs, mgmt-nic
// 3; per second over 10s: timer 0.1, mgmt-nic 0.3)", nothing without
// causes.
func exitCauses(st api.Status) string {
	if len(st.ExitCauses) == 0 {
		return ""
	}
	names := slices.Sorted(maps.Keys(st.ExitCauses))
	var counts, rates []string
	for _, k := range names {
		n := st.ExitCauses[k]
		if ns := st.ExitNanos[k]; ns > 0 && n > 0 {
			// The mean time Ferry took to handle one.
			counts = append(counts, fmt.Sprintf("%s %d at %s", k, n, durationString(time.Duration(ns/n))))
			continue
		}
		counts = append(counts, fmt.Sprintf("%s %d", k, n))
		if r, ok := st.ExitRates[k]; ok {
			rates = append(rates, fmt.Sprintf("%s %.3g", k, r))
		}
	}
	out := " (" + strings.Join(counts, ", ")
	if st.ExitWindow > 0 {
		per := "none"
		if len(rates) > 0 {
			per = strings.Join(rates, ", ")
		}
		out += fmt.Sprintf("; per second over %s: %s", durationString(st.ExitWindow), per)
	}
	return out + ")"
}
