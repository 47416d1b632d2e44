// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"regexp"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

func TestSettle(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(s float64, text string) qemu.Line {
		return qemu.Line{Text: text, At: t0.Add(time.Duration(s * float64(time.Second)))}
	}
	s := settle{Quiet: 2 * time.Second, Settle: 5 * time.Second, Silent: 30 * time.Second}
	ferry := []qemu.Line{at(0, "ferry: EL2, MIDR 0xf0510"), at(0.2, "ferry: entering guest at EL1"), at(0.3, "qemu-system-aarch64: warning: x"),
		at(0.4, "W0101 00:00:00.580987       3 dispatcher.go:284] tcp.Endpoint.handleListenSegment() failed")}
	counter := append(append([]qemu.Line{}, ferry...), at(1, "[    0.000000] Booting Linux"))
	for i := 0; i < 10; i++ { // a line a second, forever: never quiet
		counter = append(counter, at(2+float64(i), "FERRY-COUNTER n="))
	}
	shell := append(append([]qemu.Line{}, ferry...), at(1, "Booting"), at(1.5, "~ # "))
	for _, c := range []struct {
		name  string
		s     settle
		lines []qemu.Line
		now   float64 // seconds after t0; the guest was running from t0
		want  bool
	}{
		{"only Ferry's lines, soon after running", s, ferry, 10, false},
		{"only Ferry's lines, long after running", s, ferry, 30, true},
		{"chatty guest, before the settle time", s, counter, 5.9, false},
		{"chatty guest, at the settle time", s, counter, 6, true},
		{"guest went quiet", s, shell, 3.5, true},
		{"guest not quiet long enough yet", s, shell, 3.4, false},
		{"a -ready line", settle{Quiet: time.Hour, Settle: time.Hour, Silent: time.Hour, Ready: regexp.MustCompile(`^~ #`)}, shell, 1.5, true},
		{"-ready replaces the quiet, settle and silent rules", settle{Quiet: time.Second, Settle: time.Second, Silent: time.Second, Ready: regexp.MustCompile(`^login:`)}, counter, 30, false},
		{"-ready matches only the guest's lines", settle{Quiet: time.Hour, Settle: time.Hour, Silent: time.Hour, Ready: regexp.MustCompile(`entering`)}, shell, 1.5, false},
	} {
		var lines []qemu.Line
		for _, l := range c.lines { // what had arrived by now
			if !l.At.After(t0.Add(time.Duration(c.now * float64(time.Second)))) {
				lines = append(lines, l)
			}
		}
		got, why := c.s.ready(lines, t0, t0.Add(time.Duration(c.now*float64(time.Second))))
		if got != c.want {
			t.Errorf("%s: ready = %v (%s), want %v", c.name, got, why, c.want)
		}
		if got && why == "" {
			t.Errorf("%s: ready with no reason", c.name)
		}
	}
}
