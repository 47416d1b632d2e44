// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"regexp"
	"sort"
	"strconv"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// What the bench reads from the guest's console (guest/README.md).
var (
	hbLine    = regexp.MustCompile(`^FERRY-HB (\d+)(?: t=(\d+(?:\.\d+)?))?`)
	dirtyLine = regexp.MustCompile(`^FERRY-DIRTY id=\S+ rate=(\d+(?:\.\d+)?) n=(\d+) mib=(\d+)`)
	badLine   = regexp.MustCompile(`^FERRY-(PATTERN|DIRTY)-CHECK .* BAD`)
	okLine    = regexp.MustCompile(`^FERRY-(PATTERN|DIRTY)-CHECK .* OK`)
	dirtyChk  = regexp.MustCompile(`^FERRY-DIRTY-CHECK `)
)

// beat is one heartbeat line: its host arrival time and, if the guest
// printed it, the guest's own uptime.
type beat struct {
	At     time.Time
	K      int
	GuestS float64 // -1 when the line has no t=
	Dst    bool    // seen on the destination's console
}

func heartbeats(lines []qemu.Line, dst bool) []beat {
	var out []beat
	for _, l := range lines {
		m := hbLine.FindStringSubmatch(l.Text)
		if m == nil {
			continue
		}
		b := beat{At: l.At, GuestS: -1, Dst: dst}
		b.K, _ = strconv.Atoi(m[1])
		if m[2] != "" {
			b.GuestS, _ = strconv.ParseFloat(m[2], 64)
		}
		out = append(out, b)
	}
	return out
}

// Gap is what the heartbeat says about a migration's switchover.
type Gap struct {
	MaxS        float64 // largest interval between consecutive beats (host clock), both consoles
	SwitchS     float64 // last beat on the source to the first on the destination (host clock)
	GuestClockS float64 // the same two beats on the guest's own clock (-1: not printed)
	Beats       int     // beats in the window
}

// heartbeatGap merges the beats of the source and destination consoles
// that arrived between from and to (and the last one before from) by
// arrival time and measures the gaps.
func heartbeatGap(src, dst []qemu.Line, from, to time.Time) Gap {
	all := append(heartbeats(src, false), heartbeats(dst, true)...)
	sort.SliceStable(all, func(i, j int) bool { return all[i].At.Before(all[j].At) })
	var in []beat
	for i, b := range all {
		if b.At.After(to) {
			break
		}
		if !b.At.Before(from) || (i+1 < len(all) && !all[i+1].At.Before(from)) {
			in = append(in, b)
		}
	}
	g := Gap{GuestClockS: -1, Beats: len(in)}
	var lastSrc, firstDst *beat
	for i := range in {
		if i > 0 {
			if d := in[i].At.Sub(in[i-1].At).Seconds(); d > g.MaxS {
				g.MaxS = d
			}
		}
		if !in[i].Dst {
			lastSrc = &in[i]
		} else if firstDst == nil {
			firstDst = &in[i]
		}
	}
	if lastSrc != nil && firstDst != nil {
		g.SwitchS = firstDst.At.Sub(lastSrc.At).Seconds()
		if lastSrc.GuestS >= 0 && firstDst.GuestS >= 0 {
			g.GuestClockS = firstDst.GuestS - lastSrc.GuestS
		}
	}
	return g
}

// progressPoint is one FERRY-DIRTY line: MiB written so far by the guest.
type progressPoint struct {
	At   time.Time
	MiB  int
	Rate float64 // the guest's own figure for its last period
}

func dirtyPoints(lines []qemu.Line) []progressPoint {
	var out []progressPoint
	for _, l := range lines {
		m := dirtyLine.FindStringSubmatch(l.Text)
		if m == nil {
			continue
		}
		p := progressPoint{At: l.At}
		p.Rate, _ = strconv.ParseFloat(m[1], 64)
		p.MiB, _ = strconv.Atoi(m[3])
		out = append(out, p)
	}
	return out
}

// beforeWindow is how far back before a migration the guest's undisturbed
// progress is measured.
const beforeWindow = 8 * time.Second

// dirtyProgress returns the guest's dirtying progress, MiB per host second,
// before the migration (over beforeWindow on the source) and across it:
// from the source's last line before start to the destination's first
// line after end, so the downtime counts. Zero when there are not enough
// lines.
func dirtyProgress(src, dst []qemu.Line, start, end time.Time) (before, during float64) {
	sp, dp := dirtyPoints(src), dirtyPoints(dst)
	var first, last *progressPoint
	for i := range sp {
		p := &sp[i]
		if p.At.After(start) {
			break
		}
		if p.At.After(start.Add(-beforeWindow)) && first == nil {
			first = p
		}
		last = p
	}
	if first != nil && last != nil && last.At.After(first.At) {
		before = float64(last.MiB-first.MiB) / last.At.Sub(first.At).Seconds()
	}
	for i := range dp {
		p := &dp[i]
		if p.At.Before(end) || last == nil {
			continue
		}
		if d := p.At.Sub(last.At).Seconds(); d > 0 {
			during = float64(p.MiB-last.MiB) / d
		}
		break
	}
	return before, during
}

// beatRate returns heartbeats per host second before the migration (over
// beforeWindow, source only) and between start and end (both consoles).
func beatRate(src, dst []qemu.Line, start, end time.Time) (before, during float64) {
	var nb, nd int
	for _, b := range append(heartbeats(src, false), heartbeats(dst, true)...) {
		switch {
		case !b.Dst && b.At.After(start.Add(-beforeWindow)) && !b.At.After(start):
			nb++
		case b.At.After(start) && !b.At.After(end):
			nd++
		}
	}
	before = float64(nb) / beforeWindow.Seconds()
	if d := end.Sub(start).Seconds(); d > 0 {
		during = float64(nd) / d
	}
	return before, during
}

// badChecks returns the check lines that say BAD.
func badChecks(lines ...[]qemu.Line) []string {
	var out []string
	for _, ls := range lines {
		for _, l := range ls {
			if badLine.MatchString(l.Text) {
				out = append(out, l.Text)
			}
		}
	}
	return out
}

// okChecks counts the check lines that say OK.
func okChecks(lines []qemu.Line) int {
	n := 0
	for _, l := range lines {
		if okLine.MatchString(l.Text) {
			n++
		}
	}
	return n
}
