// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// hwbreak matches the self-debugging process's rounds (guest.mode=hwbreak).
var hwbreak = regexp.MustCompile(`^FERRY-HWBREAK n=(\d+) hits=(\d+) want=(\d+) (OK|BAD.*)$`)

// A guest debugging itself -- 6 hardware breakpoints and 4 watchpoints
// set through perf_event_open, as perf and gdb set them -- keeps them
// across a migration: every one fires on the destination at each hit.
// The source board's CPU has MTE (QEMU's mte=on, MTE2 in
// ID_AA64PFR1_EL1), which the guest must not see: shown it, Linux wrote
// TFSR_EL1 setting up its first CPU, a register that traps to Ferry, and
// never reached userspace. The destination has no MTE: the guest's view
// of the two CPUs is the same, so the migration goes through.
func TestMigrateHardwareBreakpoints(t *testing.T) {
	l := newLink(t)
	src := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=hwbreak", func(b *qemu.Board) {
		b.Extra = append(b.Extra, "-machine", "mte=on")
	})
	dst := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	_, i := expect(t, src, `^FERRY-HWBREAK (set|BAD)`, 0, bootTimeout)
	if ln := src.Lines()[i].Text; !strings.Contains(ln, "set bp=6 wp=4") {
		t.Fatalf("the guest could not set its breakpoints: %q", ln)
	}
	rounds := func(p *qemu.Process, from, n int) {
		t.Helper()
		for range n {
			ln, at := expect(t, p, hwbreak.String(), from, time.Minute)
			if m := hwbreak.FindStringSubmatch(ln.Text); m[4] != "OK" || atoi(t, m[2]) < atoi(t, m[3]) {
				t.Fatalf("%q", ln.Text)
			}
			from = at + 1
		}
	}
	rounds(src, i, 2)
	if out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12"); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("migration: %v", err)
	}
	_, recv := expect(t, dst, `ferry: guest received from`, 0, time.Minute)
	rounds(dst, recv, 3)
}
