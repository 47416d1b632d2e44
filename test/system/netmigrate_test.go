// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"fmt"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/echostream"
)

// streamRate is the bytes a second the client sends.
const streamRate = 1 << 20

// check fails t if the stream broke.
func check(t *testing.T, s *echostream.Stream, when string) {
	t.Helper()
	if err := s.Err(); err != nil {
		t.Fatalf("%s: %v", when, err)
	}
}

// flowing waits until more than n bytes have come back.
func flowing(t *testing.T, s *echostream.Stream, n int64, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); s.Got() <= n; {
		check(t, s, "waiting for the echo")
		if time.Now().After(deadline) {
			t.Fatalf("the echo stopped at byte %d (sent %d)", s.Got(), s.Sent())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A client on the data segment keeps a TCP stream open to the guest's
// echo service while the guest moves from a to b and back: the stream
// never resets, and every byte comes back once and in order. The
// destination announces the guest's MAC, and the longest stall the client
// saw is reported. The guest's console output carries on in order across
// the switches, no line missing or repeated.
func TestGuestNetworkMigrates(t *testing.T) {
	l := newLink(t)
	data, nic := dataSegment(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=counter guest.ip="+guestIP+"/24", nic)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "", nic)
	expect(t, a, `^FERRY-ECHO up port=7`, 0, bootTimeout)

	s := echostream.Start(dialEcho(t, data, time.Minute), streamRate)
	flowing(t, s, 256<<10, 30*time.Second)

	for i, hop := range []struct{ from, to, toName string }{{"10.77.0.11", "10.77.0.12", "b"}, {"10.77.0.12", "10.77.0.11", "a"}} {
		src, dst := a, b
		if i == 1 {
			src, dst = b, a
		}
		mark, dmark := len(src.Lines()), len(dst.Lines())
		before := s.Got()
		if out, err := l.ferryctl("", "migrate", hop.from, hop.to); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
			t.Fatalf("migration %d: %v", i+1, err)
		}
		expect(t, src, `ferry: migration \w+ to `+regexp.QuoteMeta(hop.to)+`:7001 \(`+hop.toName+`\) committed and confirmed`, mark, time.Minute)
		ln, _ := expect(t, dst, `ferry: guest NIC at 0xa003c00: announced 52:54:00:88:00:10 from here: 5 of 5 RARP frames sent`, dmark, time.Minute)
		t.Logf("migration %d: %s", i+1, ln.Text)
		flowing(t, s, before+512<<10, time.Minute)
		check(t, s, fmt.Sprintf("after migration %d", i+1))
	}
	if err := s.Finish(time.Minute); err != nil {
		t.Fatalf("at the end: %v", err)
	}
	stall, until := s.Stall()
	t.Logf("%d bytes echoed in order across two migrations; the longest stall the client saw: %v (ending %s)",
		s.Got(), stall.Round(time.Millisecond), until.Format("15:04:05.000"))

	// The guest's console carried on across both switches: its counter,
	// on a, then b, then a again, misses no line and repeats none.
	cs := append(counters(a.Lines()), counters(b.Lines())...)
	slices.SortStableFunc(cs, func(x, y count) int { return x.at.Compare(y.at) })
	for i := 1; i < len(cs); i++ {
		if cs[i].id != cs[0].id || cs[i].n != cs[i-1].n+1 {
			t.Fatalf("the guest's counter went from %+v to %+v across the boards' consoles", cs[i-1], cs[i])
		}
	}
	t.Logf("the guest's counter ran from n=%d to n=%d across the three consoles, no line missing or repeated", cs[0].n, cs[len(cs)-1].n)
}
