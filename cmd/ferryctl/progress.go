// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"fmt"
	"io"
	"os"

	"github.com/ferry-hv/ferry/api"
	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// barWidth is the number of cells of the progress bar.
const barWidth = 24

// progressView shows a migration's progress. On a terminal it is a live
// bar (package progressbar) of the current round's pages, with the round,
// the pages left, the dirty rate, the bandwidth, Ferry's CPU share, the
// throttle and the expected downtime. On anything else (a log, a pipe) it
// prints a plain line per phase or round change.
type progressView struct {
	w    io.Writer
	tty  bool
	cols int // the terminal's width (tty)

	bar       *progressbar.ProgressBar // tty: the current round's bar
	phase     string                   // last phase shown
	round     int                      // last round shown
	shown     bool                     // something was shown
	roundBase uint64                   // PagesSent when the current round was first seen
	pollErr   string                   // last polling error shown
}

func newProgressView(w io.Writer) *progressView {
	v := &progressView{w: w, round: -1}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		v.tty = true
		v.cols = 80
		if c, _, err := term.GetSize(int(f.Fd())); err == nil && c > 0 {
			v.cols = c
		}
	}
	return v
}

// roundPages returns what the bar shows of p's round: pages sent and the
// round's size as now known. Round 0 is all of RAM. A later round's start
// is not in Progress, so its bar starts where ferryctl first saw it: sent
// since then, out of that plus what is left (which grows as the guest
// dirties pages).
func (v *progressView) roundPages(p api.Progress) (sent, size uint64) {
	if p.Round == 0 {
		return min(p.PagesSent, p.PagesTotal), max(p.PagesTotal, p.PagesSent)
	}
	if p.PagesSent > v.roundBase {
		sent = p.PagesSent - v.roundBase
	}
	return sent, sent + p.PagesLeft
}

// stats is the line's text after the bar.
func stats(p api.Progress) string {
	s := fmt.Sprintf("%s round %d: %d pages left", p.Phase, p.Round, p.PagesLeft)
	s += ", dirty " + rateString(p.DirtyRate)
	s += ", bandwidth " + rateString(p.Bandwidth)
	s += ", cpu " + percent(p.CPUShare)
	s += ", throttle " + percent(p.Throttle)
	s += ", downtime ~" + durationString(p.ExpectedDowntime)
	return s
}

// update shows p.
func (v *progressView) update(p api.Progress) {
	v.pollErr = ""
	newRound := p.Round != v.round
	if newRound {
		v.roundBase = p.PagesSent
	}
	if v.tty {
		sent, size := v.roundPages(p)
		v.draw(p, sent, size, newRound)
	} else if newRound || p.Phase != v.phase {
		fmt.Fprintln(v.w, plain(p))
	}
	v.phase, v.round, v.shown = p.Phase, p.Round, true
}

// plain is the line for a log: the phase and, while pages move, the
// round's figures.
func plain(p api.Progress) string {
	switch p.Phase {
	case "precopy", "stopped":
		return stats(p) + fmt.Sprintf(" (%d pages sent in all, of %d in RAM; %s)", p.PagesSent, p.PagesTotal, shortBytes(float64(p.BytesSent)))
	case "failed", "cancelled":
		return fmt.Sprintf("%s after %s: %s", p.Phase, durationString(p.Elapsed), p.Error)
	}
	return fmt.Sprintf("%s after %s: %d pages sent, of %d in RAM; %s", p.Phase, durationString(p.Elapsed), p.PagesSent, p.PagesTotal, shortBytes(float64(p.BytesSent)))
}

// draw redraws the live bar; a new round (or phase) gets a new bar on the
// same line.
func (v *progressView) draw(p api.Progress, sent, size uint64, newRound bool) {
	if v.bar == nil || newRound || p.Phase != v.phase || (v.bar.IsFinished() && sent < size) {
		v.clear()
		v.bar = progressbar.NewOptions64(int64(max(size, 1)),
			progressbar.OptionSetWriter(v.w),
			progressbar.OptionSetWidth(barWidth),
			progressbar.OptionSetTheme(barTheme),
			progressbar.OptionSetPredictTime(false),
			progressbar.OptionShowDescriptionAtLineEnd(),
			progressbar.OptionUseANSICodes(true),
		)
	}
	// The line is " 50% [bar]  text " (barWidth+11 columns and the text),
	// the text cut to keep it on one line of the terminal.
	text := stats(p)
	if room := v.cols - barWidth - 12; room > 0 && len(text) > room {
		text = text[:room]
	}
	// The text first: progressbar draws a bar that has just filled once,
	// with the text it has then.
	v.bar.ChangeMax64(int64(max(size, sent, 1)))
	v.bar.Describe(text)
	v.bar.Set64(int64(sent))
}

// barTheme is ASCII, as the plain lines are.
var barTheme = progressbar.Theme{Saucer: "=", SaucerHead: ">", SaucerPadding: " ", BarStart: "[", BarEnd: "]"}

// clear takes the live bar off the screen.
func (v *progressView) clear() {
	if v.bar != nil {
		v.bar.Exit()
		v.bar.Clear()
		v.bar = nil
	}
}

// pollError shows a failed progress poll once (the migration goes on).
func (v *progressView) pollError(err error) {
	if msg := err.Error(); msg != v.pollErr {
		v.clear()
		fmt.Fprintf(v.w, "ferryctl: polling progress: %v\n", err)
		v.pollErr = msg
		v.phase = "" // redraw with the next update
	}
}

// finish ends the display, leaving the last state on its own line.
func (v *progressView) finish() {
	if v.bar != nil {
		v.bar.Exit()
		fmt.Fprintln(v.w)
		v.bar = nil
	}
}
