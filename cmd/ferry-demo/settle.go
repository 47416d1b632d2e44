// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// settle decides when a running guest has settled enough to be moved,
// from its console alone: it knows nothing of what the guest prints.
type settle struct {
	// Quiet: move the guest once its console has been silent this long
	// after it printed something (a shell prompt, a finished boot).
	Quiet time.Duration
	// Settle: move it at the latest this long after its first console
	// line, however chatty it is.
	Settle time.Duration
	// Silent: a guest that prints nothing is moved this long after the
	// board reported it running.
	Silent time.Duration
	// Ready, if set, replaces the three above: the guest is moved as soon
	// as a line of its matches, and not before.
	Ready *regexp.Regexp
}

// glogLine is the format of the log lines of Ferry's netstack (gVisor's
// glog format: "W0101 00:00:00.580987       3 dispatcher.go:284] ...").
var glogLine = regexp.MustCompile(`^[IWEF]\d{4} \d\d:\d\d:\d\d\.\d+ +\d+ [^ ]+:\d+\] `)

// guestLine reports whether a console line is the guest's: Ferry's own
// lines start "ferry: " or are its netstack's log, QEMU's start
// "qemu-system-". An empty line is the guest's too (Ferry and QEMU print
// none): a shell's echo of Enter, say.
func guestLine(text string) bool {
	t := strings.TrimSpace(text)
	return !strings.HasPrefix(t, "ferry: ") && !strings.HasPrefix(t, "qemu-system-") && !glogLine.MatchString(t)
}

// ready reports whether the guest on a board whose console is lines, and
// which has been reported running since running, may be moved at now, and
// why.
func (s settle) ready(lines []qemu.Line, running, now time.Time) (bool, string) {
	var first, last time.Time
	n := 0
	for _, l := range lines {
		if !guestLine(l.Text) {
			continue
		}
		if s.Ready != nil && s.Ready.MatchString(l.Text) {
			return true, fmt.Sprintf("its console matched -ready %q", s.Ready)
		}
		if n == 0 {
			first = l.At
		}
		last = l.At
		n++
	}
	switch {
	case s.Ready != nil:
	case n == 0:
		if d := now.Sub(running); d >= s.Silent {
			return true, fmt.Sprintf("it has printed nothing in the %v since it was running", d.Round(time.Millisecond))
		}
	case now.Sub(last) >= s.Quiet:
		return true, fmt.Sprintf("its console has been quiet for %v after %d line(s)", now.Sub(last).Round(time.Millisecond), n)
	case now.Sub(first) >= s.Settle:
		return true, fmt.Sprintf("it has run for %v since its first console line (%d lines)", now.Sub(first).Round(time.Millisecond), n)
	}
	return false, ""
}
