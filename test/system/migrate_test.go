// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/pki"
	"github.com/ferry-hv/ferry/internal/qemu"
)

var counterT = regexp.MustCompile(`^FERRY-COUNTER id=(\w+) n=(\d+) t=([\d.]+)`)

// counterTail is counterT or the rest of one the guest was writing when it
// was paused: the line's head is on the source's console, its tail on the
// destination's ("FER" | "RY-COUNTER id=... n=28 ...").
var counterTail = regexp.MustCompile(`^(?:F?E?R?R?Y?-?)COUNTER id=(\w+) n=(\d+) t=([\d.]+)`)

// link is a management network for one test: a switch on 127.0.0.1, keys
// from one CA for a, b and ctl, and keys from another CA for rogue.
type link struct {
	t       *testing.T
	switch_ string
	sw      *l2switch.Switch
	dir     string
}

var (
	ferryctlOnce sync.Once
	ferryctlBin  string
	ferryctlErr  error
)

func newLink(t *testing.T) *link {
	t.Helper()
	if os.Getenv("FERRY_SYSTEM") != "1" {
		t.Skip("system test: set FERRY_SYSTEM=1 (make test does)")
	}
	ferryctlOnce.Do(func() {
		dir, err := os.MkdirTemp("", "ferryctl")
		if err != nil {
			ferryctlErr = err
			return
		}
		ferryctlBin = filepath.Join(dir, "ferryctl")
		out, err := exec.Command("go", "build", "-o", ferryctlBin, "github.com/ferry-hv/ferry/cmd/ferryctl").CombinedOutput()
		if err != nil {
			ferryctlErr = fmt.Errorf("building ferryctl: %v\n%s", err, out)
		}
	})
	if ferryctlErr != nil {
		t.Fatal(ferryctlErr)
	}
	l := &link{t: t, dir: t.TempDir()}
	if _, err := pki.Provision(l.dir, "ferry", "a=10.77.0.11", "b=10.77.0.12", "c=10.77.0.14", "operator:ctl"); err != nil {
		t.Fatal(err)
	}
	// A board from another CA, in its own folder (its ca.pem would clash).
	rogue := t.TempDir()
	if _, err := pki.Provision(rogue, "rogue", "rogue=10.77.0.13", "operator:rogue-ctl"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"rogue.pem", "rogue-ctl.pem"} {
		if err := os.Rename(filepath.Join(rogue, name), filepath.Join(l.dir, name)); err != nil {
			t.Fatal(err)
		}
	}
	sw, addr, err := l2switch.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	l.switch_, l.sw = addr, sw
	return l
}

// setLink pulls (up false) or plugs back the cable of the switch port the
// board with mac is on.
func (l *link) setLink(mac string, up bool) {
	l.t.Helper()
	hw, err := net.ParseMAC(mac)
	if err != nil {
		l.t.Fatal(err)
	}
	port, ok := l.sw.Lookup(l2switch.MAC(hw))
	if !ok {
		l.t.Fatalf("no switch port has %s", mac)
	}
	if err := l.sw.SetLink(port, up); err != nil {
		l.t.Fatal(err)
	}
	l.t.Logf("switch: port %d (%s) link up=%v", port, mac, up)
}

// board starts a board on the link: with the guest (appendArgs) or, when
// appendArgs is "", in the receive role.
func (l *link) board(name, ip, mac, appendArgs string, extra ...func(*qemu.Board)) *qemu.Process {
	l.t.Helper()
	b := board(l.t, false, appendArgs)
	b.Switch, b.Name, b.IP, b.MAC, b.Keys = l.switch_, name, ip+"/24", mac, filepath.Join(l.dir, name+".pem")
	for _, f := range extra {
		f(&b)
	}
	if appendArgs == "" {
		b.Kernel, b.Initrd, b.Append = "", "", ""
	}
	p := start(l.t, b)
	expect(l.t, p, `ferry: management network up`, 0, bootTimeout)
	return p
}

// ferryctl runs ferryctl on the link as ctl (or with the given keys).
func (l *link) ferryctl(keys string, args ...string) (string, error) {
	if keys == "" {
		keys = "ctl"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	all := append([]string{"-switch", l.switch_, "-keys", filepath.Join(l.dir, keys+".pem"), "-mtu", "65510",
		"-journal", filepath.Join(l.dir, "journal.jsonl")}, args...)
	out, err := exec.CommandContext(ctx, ferryctlBin, all...).CombinedOutput()
	l.t.Logf("ferryctl %s:\n%s", strings.Join(args, " "), out)
	return string(out), err
}

type count struct {
	id string
	n  int
	t  float64
	at time.Time
}

func counters(lines []qemu.Line) []count {
	var cs []count
	for _, l := range lines {
		if m := counterT.FindStringSubmatch(l.Text); m != nil {
			n, _ := strconv.Atoi(m[2])
			t, _ := strconv.ParseFloat(m[3], 64)
			cs = append(cs, count{m[1], n, t, l.At})
		}
	}
	return cs
}

const guestArgs = "quiet guest.mode=migrate guest.pattern_mb=16 guest.hb=1"

// TestMigrate moves a running guest from board a to board b: its counter
// and boot id carry on at b with no reset, its memory pattern is intact,
// its clock did not jump, and a stops running it. Then it moves it back.
func TestMigrate(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", guestArgs)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	expect(t, a, `^FERRY-PATTERN-CHECK id=\w+ n=\d+ OK`, 0, bootTimeout)

	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12")
	if err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("ferryctl migrate: %v", err)
	}
	_, commit := expect(t, a, `ferry: migration \w+ to 10\.77\.0\.12:7001 \(b\) committed and confirmed`, 0, time.Minute)
	_, recv := expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	before := counters(a.Lines()[:commit])
	if len(before) < 2 {
		t.Fatalf("the guest counted %d times before the move", len(before))
	}
	last := before[len(before)-1]

	l1, i := expect(t, b, counterTail.String(), recv, 30*time.Second)
	m := counterTail.FindStringSubmatch(l1.Text)
	n, _ := strconv.Atoi(m[2])
	ft, _ := strconv.ParseFloat(m[3], 64)
	first := count{m[1], n, ft, l1.At}
	if first.id != last.id || first.n != last.n+1 {
		t.Fatalf("counter did not continue: last on a %+v, first on b %+v", last, first)
	}
	if dt := first.t - last.t; dt <= 0 || dt > 3 {
		t.Fatalf("the guest's clock jumped by %.2f s across the move (t %.2f on a, %.2f on b)", dt, last.t, first.t)
	}
	expect(t, b, fmt.Sprintf(`^FERRY-PATTERN-CHECK id=%s n=\d+ OK`, first.id), i, 30*time.Second)
	for _, p := range []*qemu.Process{a, b} {
		for _, ln := range p.Lines() {
			if strings.Contains(ln.Text, "BAD") || strings.Contains(ln.Text, "FATAL") {
				t.Fatalf("console: %q", ln.Text)
			}
		}
	}
	// a gave the guest up: no more guest output from it.
	time.Sleep(3 * time.Second)
	if after := counters(a.Lines()[commit:]); len(after) > 0 {
		t.Fatalf("the guest still runs on a after the commit: %+v", after)
	}
	sa, _ := l.ferryctl("", "status", "10.77.0.11")
	sb, _ := l.ferryctl("", "status", "10.77.0.12")
	if !regexp.MustCompile(`guest +migrated`).MatchString(sa) || !regexp.MustCompile(`guest +running`).MatchString(sb) {
		t.Fatalf("status after the move: a %q, b %q", sa, sb)
	}
	gap, where := heartbeatGapAt(a, b)
	t.Logf("guest-observed downtime (largest heartbeat gap across the switch): %v, %s", gap, where)
	// Each side writes down, after the switchover, where its time went:
	// every component's capture on a, its decode and load on b.
	sw, _ := expect(t, a, `ferry: migration \w+ switchover: stop .*; guest paused in .* captured cpu .*gic .*uart`, 0, 5*time.Second)
	rs, _ := expect(t, b, `ferry: guest received from a .* \(decode cpu .*, cpu .*gic-vif .*icache .*stage-2 TLB .*\)`, 0, 5*time.Second)
	t.Logf("source: %s", sw.Text)
	t.Logf("destination: %s", rs.Text)

	// And back: a, whose copy of the guest's memory is stale, takes it
	// again and the guest carries on there.
	expect(t, b, fmt.Sprintf(`^FERRY-PATTERN-CHECK id=%s n=\d+ OK`, first.id), i, 30*time.Second)
	if out, err := l.ferryctl("", "migrate", "10.77.0.12", "10.77.0.11"); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("ferryctl migrate back: %v", err)
	}
	_, commit = expect(t, b, `ferry: migration \w+ to 10\.77\.0\.11:7001 \(a\) committed and confirmed`, 0, time.Minute)
	_, recv = expect(t, a, `ferry: guest received from b`, 0, time.Minute)
	onB := counters(b.Lines()[:commit])
	last = onB[len(onB)-1]
	l1, i = expect(t, a, counterT.String(), recv, 30*time.Second)
	if back := counters([]qemu.Line{l1})[0]; back.id != last.id || back.n != last.n+1 {
		t.Fatalf("counter did not continue on the way back: last on b %+v, first on a %+v", last, back)
	}
	expect(t, a, fmt.Sprintf(`^FERRY-PATTERN-CHECK id=%s n=\d+ OK`, last.id), i, 30*time.Second)
	for _, ln := range a.Lines() {
		if strings.Contains(ln.Text, "BAD") || strings.Contains(ln.Text, "FATAL") {
			t.Fatalf("console of a after the way back: %q", ln.Text)
		}
	}
}

// heartbeatGap is the largest interval between the host arrival times of
// consecutive heartbeat lines, on either console.
func heartbeatGap(boards ...*qemu.Process) time.Duration {
	gap, _ := heartbeatGapAt(boards...)
	return gap
}

// heartbeatGapAt is heartbeatGap and the two lines around the gap.
func heartbeatGapAt(boards ...*qemu.Process) (time.Duration, string) {
	type hb struct {
		at   time.Time
		text string
	}
	var all []hb
	for i, p := range boards {
		for _, l := range p.Lines() {
			if strings.HasPrefix(l.Text, "FERRY-HB ") {
				all = append(all, hb{l.At, fmt.Sprintf("board %d %q", i, l.Text)})
			}
		}
	}
	var gap time.Duration
	var where string
	for i := 1; i < len(all); i++ {
		if d := all[i].at.Sub(all[i-1].at); d > gap {
			gap, where = d, all[i-1].text+" .. "+all[i].text
		}
	}
	return gap, where
}

// TestMigrateDestinationDies kills the destination in the middle of the
// transfer: the migration fails and the guest carries on at the source.
func TestMigrateDestinationDies(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", guestArgs)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	expect(t, a, counterT.String(), 0, bootTimeout)

	killed := make(chan struct{})
	go func() {
		defer close(killed)
		if _, _, err := b.Expect(regexp.MustCompile(`ferry: migration listener: a \(`), 0, 2*time.Minute); err == nil {
			time.Sleep(time.Second)
			b.Kill()
		}
	}()
	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12")
	<-killed
	if err == nil || strings.Contains(out, "migration     ok") {
		t.Fatalf("migration to a dead board reported success:\n%s", out)
	}
	_, i := expect(t, a, `ferry: migration \w+ to 10\.77\.0\.12:7001 failed, the guest runs on here`, 0, time.Minute)
	before := counters(a.Lines()[:i])
	l1, i := expect(t, a, counterT.String(), i, 30*time.Second)
	l2, _ := expect(t, a, counterT.String(), i+1, 30*time.Second)
	c1, c2 := counters([]qemu.Line{l1})[0], counters([]qemu.Line{l2})[0]
	last := before[len(before)-1]
	if c1.id != last.id || c1.n != last.n+1 || c2.n != c1.n+1 {
		t.Fatalf("the guest did not carry on at the source: before %+v, after %+v %+v", last, c1, c2)
	}
	if s, _ := l.ferryctl("", "status", "10.77.0.11"); !regexp.MustCompile(`guest +running`).MatchString(s) {
		t.Fatalf("source status: %s", s)
	}
}

// TestMigrateRefusesWrongKey: a board whose certificate comes from another
// CA is refused (ferryctl cannot even ask it who it is, so nothing is
// announced or sent), and the guest never stops; an operator's key from
// that CA does not open the API of the others either. A destination
// nobody answers at is reported as such.
func TestMigrateRefusesWrongKey(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", guestArgs)
	rogue := l.board("rogue", "10.77.0.13", "52:54:00:77:00:13", "")
	expect(t, a, counterT.String(), 0, bootTimeout)

	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.13")
	if err == nil || !strings.Contains(out, "asking the destination who it is") || !strings.Contains(out, "certificate") {
		t.Fatalf("migration to a board with a foreign certificate was not refused for it: %v\n%s", err, out)
	}
	for _, ln := range a.Lines() {
		if strings.Contains(ln.Text, "committed") {
			t.Fatalf("a committed a migration to a rogue board: %q", ln.Text)
		}
	}
	if st := rogue.Lines(); strings.Contains(st[len(st)-1].Text, "guest received") {
		t.Fatal("the rogue board received the guest")
	}
	n := len(counters(a.Lines()))
	expect(t, a, counterT.String(), len(a.Lines()), 30*time.Second)
	if len(counters(a.Lines())) <= n {
		t.Fatal("the guest stopped counting")
	}
	if out, err := l.ferryctl("rogue-ctl", "status", "10.77.0.11"); err == nil {
		t.Fatalf("a rogue certificate opened a's API:\n%s", out)
	}
	// Nobody at the destination address: a clear error, the guest runs on.
	if out, err := l.ferryctl("", "migrate", "-timeout", "30s", "10.77.0.11", "10.77.0.99"); err == nil || !strings.Contains(out, "asking the destination who it is") {
		t.Fatalf("migration to an address nobody has: %v\n%s", err, out)
	}
	n = len(counters(a.Lines()))
	expect(t, a, counterT.String(), len(a.Lines()), 30*time.Second)
	if len(counters(a.Lines())) <= n {
		t.Fatal("the guest stopped counting after a migration to nowhere")
	}
}

// TestMigrateRefusesIncompatible: a destination with another RAM layout is
// refused in the handshake, with the reason, before the guest is paused.
func TestMigrateRefusesIncompatible(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", guestArgs)
	l.board("b", "10.77.0.12", "52:54:00:77:00:12", "", func(b *qemu.Board) { b.Memory = "2G" })
	expect(t, a, counterT.String(), 0, bootTimeout)

	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12")
	if err == nil || !strings.Contains(out, "RAM") {
		t.Fatalf("migration to a board with more RAM was not refused for its RAM layout: %v\n%s", err, out)
	}
	_, i := expect(t, a, `ferry: migration \w+ to 10\.77\.0\.12:7001 failed, the guest runs on here: .*RAM`, 0, time.Minute)
	if strings.Contains(out, "downtime") && !regexp.MustCompile(`downtime +0s`).MatchString(out) {
		t.Fatalf("the guest was stopped for a refused migration:\n%s", out)
	}
	n := len(counters(a.Lines()))
	expect(t, a, counterT.String(), i, 30*time.Second)
	if len(counters(a.Lines())) <= n {
		t.Fatal("the guest stopped counting")
	}
}

// a32 matches the 32-bit process's lines (guest.mode=a32).
var a32 = regexp.MustCompile(`^FERRY-A32 n=(\d+) sum=[0-9a-f]+ OK`)

// A guest whose current task is a 32-bit process moves like any other:
// migrated back and forth until a pause has found it in AArch32 EL0 (the
// process keeps the CPU busy there, so it nearly always does), it carries
// on each time with its state intact (it checks itself and counts on).
func TestMigrateAArch32Task(t *testing.T) {
	l := newLink(t)
	boards := [2]*qemu.Process{
		l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=a32"),
		l.board("b", "10.77.0.12", "52:54:00:77:00:12", ""),
	}
	ips := [2]string{"10.77.0.11", "10.77.0.12"}
	_, from := expect(t, boards[0], a32.String(), 0, bootTimeout)
	in32 := 0
	for i := 0; i < 4 && in32 == 0; i++ {
		src, dst := boards[i%2], boards[(i+1)%2]
		mark := len(src.Lines())
		if out, err := l.ferryctl("", "migrate", ips[i%2], ips[(i+1)%2]); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
			t.Fatalf("migration %d: %v", i+1, err)
		}
		ln, _ := expect(t, src, `ferry: migration \w+ switchover: .*; guest paused in `, mark, time.Minute)
		t.Logf("migration %d: %s", i+1, ln.Text)
		if strings.Contains(ln.Text, "in AArch32 User") {
			in32++
		}
		// The process counts on where the guest now runs.
		var last int
		for _, ln := range src.Lines()[from:] {
			if m := a32.FindStringSubmatch(ln.Text); m != nil {
				last, _ = strconv.Atoi(m[1])
			}
		}
		_, recv := expect(t, dst, `ferry: guest received from`, 0, time.Minute)
		ln, from = expect(t, dst, a32.String(), recv, 30*time.Second)
		if n, _ := strconv.Atoi(a32.FindStringSubmatch(ln.Text)[1]); n <= last {
			t.Fatalf("migration %d: the 32-bit process went back from n=%d to n=%d", i+1, last, n)
		}
		for _, p := range boards {
			for _, ln := range p.Lines() {
				if strings.Contains(ln.Text, "FERRY-A32") && strings.Contains(ln.Text, "BAD") || strings.Contains(ln.Text, "/bin/a32 exited") {
					t.Fatalf("console: %q", ln.Text)
				}
			}
		}
	}
	if in32 == 0 {
		t.Fatal("no pause found the guest in AArch32 EL0 in 4 migrations")
	}
}
