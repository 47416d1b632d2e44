package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/ferry-hv/ferry/api"
)

// barWidth is the number of cells of the progress bar.
const barWidth = 30

// progressBar shows a migration's progress on a terminal, redrawing one
// line; on anything else (a log, a pipe) it prints a line per phase change
// and per tenth of the pages.
type progressBar struct {
	w       io.Writer
	tty     bool
	drawn   bool   // a line is on screen without its newline (tty)
	phase   string // last phase shown
	tenth   int    // last tenth shown (not tty)
	pollErr string // last polling error shown
}

func newProgressBar(w io.Writer) *progressBar {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progressBar{w: w, tty: tty, tenth: -1}
}

// line renders p: phase, bar, pages sent/total, percentage, bytes.
func (b *progressBar) line(p api.Progress) string {
	frac := 0.0
	if p.PagesTotal > 0 {
		frac = min(float64(p.PagesSent)/float64(p.PagesTotal), 1)
	}
	full := int(frac * barWidth)
	bar := strings.Repeat("=", full)
	if full < barWidth {
		bar += ">" + strings.Repeat(" ", barWidth-full-1)
	}
	return fmt.Sprintf("%-10s [%s] %d/%d pages %3.0f%% %s", p.Phase, bar, p.PagesSent, p.PagesTotal, 100*frac, bytesString(p.BytesSent))
}

func (b *progressBar) update(p api.Progress) {
	b.pollErr = ""
	if b.tty {
		fmt.Fprintf(b.w, "\r\033[K%s", b.line(p))
		b.drawn = true
		return
	}
	tenth := -1
	if p.PagesTotal > 0 {
		tenth = int(10 * min(p.PagesSent, p.PagesTotal) / p.PagesTotal)
	}
	if p.Phase != b.phase || tenth != b.tenth {
		fmt.Fprintln(b.w, b.line(p))
		b.phase, b.tenth = p.Phase, tenth
	}
}

// pollError shows a failed progress poll once (the migration goes on).
func (b *progressBar) pollError(err error) {
	if msg := err.Error(); msg != b.pollErr {
		b.endLine()
		fmt.Fprintf(b.w, "ferryctl: polling progress: %v\n", err)
		b.pollErr = msg
	}
}

func (b *progressBar) endLine() {
	if b.drawn {
		fmt.Fprintln(b.w)
		b.drawn = false
	}
}

// finish ends the bar's line.
func (b *progressBar) finish() { b.endLine() }
