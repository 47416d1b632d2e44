// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/guest/hostile"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// hostileCount matches the hostile kernel's counter line (guest/hostile),
// anywhere in a console line: a pause may have cut its head off onto the
// source's console.
var hostileCount = regexp.MustCompile(`n=(\d+) rpr=(\d+) irqs=(\d+)$`)

type hostileLine struct{ n, rpr, irqs int }

func hostileCounts(lines []qemu.Line) []hostileLine {
	var out []hostileLine
	for _, l := range lines {
		if m := hostileCount.FindStringSubmatch(l.Text); m != nil {
			n, _ := strconv.Atoi(m[1])
			rpr, _ := strconv.Atoi(m[2])
			irqs, _ := strconv.Atoi(m[3])
			out = append(out, hostileLine{n, rpr, irqs})
		}
	}
	return out
}

// A guest at EL1 turns its GIC CPU interface against the board, the two
// ways that held the physical running priority above Ferry's interrupts
// for good when the guest drove the physical interface: (a) it writes
// ICC_AP1R0_EL1 (running priority 0), (b) it acknowledges its timer's
// interrupt at priority 0 and never ends it, the timer left firing and
// its IRQs unmasked. With each in force Ferry's API answers, the guest's
// interrupts cost Ferry no stream of exits, and the guest is migrated, a
// to b with (a), b to a with (b); it counts on at the destination with
// its running priority still 0 (and, after (b), still the one interrupt
// taken), and costs no stream of exits there either. The guest is the
// hostile kernel of guest/hostile, which takes its orders from the UART.
func TestHostileGuestInterrupts(t *testing.T) { hostileGuest(t, hostileSteps) }

// hostileStep is an order to the hostile kernel, the line saying it
// obeyed, and the interrupts it has taken from then on.
type hostileStep struct {
	cmd, did string
	irqs     int
}

var hostileSteps = []hostileStep{
	{"a", `FERRY-HOSTILE ap1r0 written rpr=\d+$`, 0},
	{"b", `FERRY-HOSTILE acked intid=27 rpr=\d+$`, 1},
}

// hostileGuest boots the hostile kernel on a, and for each step gives
// the order on the board running it, checks that Ferry's API answers
// there, and migrates the guest to the other board, where it must count
// on with the order still in force.
func hostileGuest(t *testing.T, steps []hostileStep) {
	l := newLink(t)
	kernel := filepath.Join(t.TempDir(), "hostile.img")
	if err := os.WriteFile(kernel, hostile.Image(), 0o644); err != nil {
		t.Fatal(err)
	}
	boards := [2]*qemu.Process{
		l.board("a", "10.77.0.11", "52:54:00:77:00:11", "hostile", func(b *qemu.Board) { b.Kernel, b.Initrd = kernel, "" }),
		l.board("b", "10.77.0.12", "52:54:00:77:00:12", ""),
	}
	ips := [2]string{"10.77.0.11", "10.77.0.12"}
	names := [2]string{"a", "b"}
	a := boards[0]
	expect(t, a, `FERRY-HOSTILE start el=1$`, 0, bootTimeout)
	expect(t, a, hostileCount.String(), 0, 30*time.Second)

	for k, c := range steps {
		step := k % 2
		src, dst := boards[step], boards[1-step]
		from, to := ips[step], ips[1-step]
		mark := len(src.Lines())
		if err := src.Send(c.cmd); err != nil {
			t.Fatal(err)
		}
		did, i := expect(t, src, c.did, mark, 30*time.Second)
		ln, _ := expect(t, src, hostileCount.String(), i+1, 30*time.Second)

		// Ferry's API answers...
		start := time.Now()
		st := hostileStatus(t, l, from, c.cmd)
		t.Logf("(%s): status of %s answered in %v", c.cmd, names[step], time.Since(start).Round(time.Millisecond))
		// ...with the guest's running priority at the top.
		if h := hostileCounts([]qemu.Line{ln})[0]; !strings.HasSuffix(did.Text, " rpr=0") || h.rpr != 0 || h.irqs != c.irqs {
			t.Fatalf("(%s) on %s: %q then %q, want rpr=0 irqs=%d", c.cmd, names[step], did.Text, ln.Text, c.irqs)
		}
		quiet(t, l, st, from, c.cmd)

		// ...and the guest moves, its state with it.
		start = time.Now()
		out, err := l.ferryctl("", "migrate", from, to)
		if err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
			t.Fatalf("(%s): migration %s to %s: %v", c.cmd, names[step], names[1-step], err)
		}
		t.Logf("(%s): migration %s to %s in %v", c.cmd, names[step], names[1-step], time.Since(start).Round(time.Millisecond))
		_, commit := expect(t, src, `ferry: migration \w+ to `+regexp.QuoteMeta(to)+`:7001 \(`+names[1-step]+`\) committed and confirmed`, mark, time.Minute)
		_, recv := expect(t, dst, `ferry: guest received from `+names[step], 0, time.Minute)
		before := hostileCounts(src.Lines()[:commit])
		last := before[len(before)-1]
		_, i = expect(t, dst, hostileCount.String(), recv, 30*time.Second)
		expect(t, dst, hostileCount.String(), i+2, 30*time.Second)
		after := hostileCounts(dst.Lines()[recv:])
		// +2 when the pause cut a line in two: neither console has it whole.
		if first := after[0]; first.n != last.n+1 && first.n != last.n+2 {
			t.Fatalf("(%s): the counter did not carry on at %s: last on %s %+v, first here %+v", c.cmd, names[1-step], names[step], last, first)
		}
		for k, h := range after {
			if k > 0 && h.n != after[k-1].n+1 || h.rpr != 0 || h.irqs != c.irqs {
				t.Fatalf("(%s): on %s after the move: %+v after %+v (want rpr=0 irqs=%d)", c.cmd, names[1-step], h, after[max(k-1, 0)], c.irqs)
			}
		}
		quiet(t, l, hostileStatus(t, l, to, c.cmd), to, c.cmd)
	}
	for k, p := range boards {
		for _, ln := range p.Lines() {
			if strings.Contains(ln.Text, "FATAL") || strings.Contains(ln.Text, "FERRY-HOSTILE BAD") || strings.Contains(ln.Text, "FERRY-HOSTILE start") && k == 1 {
				t.Fatalf("console of %s: %q", names[k], ln.Text)
			}
		}
	}
}

// hostileStatus asks a board for its status, which must say its guest is
// running.
func hostileStatus(t *testing.T, l *link, board, cmd string) api.Status {
	t.Helper()
	out, err := l.ferryctl("", "status", "-json", board)
	var st api.Status
	if i := strings.Index(out, "{"); err != nil || i < 0 || json.Unmarshal([]byte(out[i:]), &st) != nil || st.Guest != api.GuestRunning {
		t.Fatalf("(%s): status of %s: %v", cmd, board, err)
	}
	return st
}

// quiet fails if the board's exits for the guest's interrupts (a physical
// interrupt listed for it, the maintenance interrupt, an exit with nothing
// pending) grow by more than a few over two seconds after st: Ferry does
// not pay for an interrupt the guest holds active or cannot take.
func quiet(t *testing.T, l *link, st api.Status, board, cmd string) {
	t.Helper()
	time.Sleep(2 * time.Second)
	now := hostileStatus(t, l, board, cmd)
	var n uint64
	for _, k := range []string{"irq", "maint", "spurious"} {
		n += now.ExitCauses[k] - st.ExitCauses[k]
	}
	if n > 3 {
		t.Fatalf("(%s): %s took %d interrupt exits for the guest in %v: %v then %v", cmd, board, n, (now.Uptime - st.Uptime).Round(time.Millisecond), st.ExitCauses, now.ExitCauses)
	}
}
