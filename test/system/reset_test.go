// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"fmt"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

var bootID = regexp.MustCompile(`^FERRY-GUEST: boot_id=(\w+) mode=`)

// rebootGuest types cmd into the guest's shell on p's console and waits
// for Ferry's line saying what it made of it (want) and, for a reset, the
// guest's next boot: it returns that boot's id (different from old) and
// where to look next.
func rebootGuest(t *testing.T, p *qemu.Process, cmd, want, old string) (string, int) {
	t.Helper()
	mark := len(p.Lines())
	if err := p.Send(cmd + "\n"); err != nil {
		t.Fatal(err)
	}
	_, i := expect(t, p, want, mark, time.Minute)
	if old == "" {
		return "", i
	}
	_, i = expect(t, p, `^FERRY-GUEST: userspace up`, i, bootTimeout)
	l, i := expect(t, p, bootID.String(), i, 30*time.Second)
	id := bootID.FindStringSubmatch(l.Text)[1]
	if id == old {
		t.Fatalf("the guest came back with the same boot id %s", id)
	}
	time.Sleep(2 * time.Second) // let the shell come up
	return id, i
}

// poller asks a board for its status over and over, and counts the
// answers and the failures.
type poller struct {
	mu         sync.Mutex
	ok, failed int
	lastErr    string
	stop       chan struct{}
	done       chan struct{}
}

func (l *link) poll(ip string) *poller {
	p := &poller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		for {
			select {
			case <-p.stop:
				return
			default:
			}
			out, err := l.ferryctl("", "status", ip)
			p.mu.Lock()
			if err != nil {
				p.failed++
				p.lastErr = fmt.Sprintf("%v: %s", err, out)
			} else {
				p.ok++
			}
			p.mu.Unlock()
			time.Sleep(300 * time.Millisecond)
		}
	}()
	return p
}

func (p *poller) end() (ok, failed int, last string) {
	close(p.stop)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ok, p.failed, p.lastErr
}

// TestGuestResetKeepsBoard: a guest that reboots itself (busybox reboot
// -f: PSCI SYSTEM_RESET) is restarted by Ferry on the same board, back to
// userspace with a new boot id, while the board's API answers throughout
// and its status says the guest reset; the reset guest is then migrated,
// reboots on the destination -- from the boot stash that moved with it --
// and the destination's ledger still holds the migration; there it powers
// itself off (poweroff -f: SYSTEM_OFF): the board and its API stay up,
// status says the guest is off, and a migration of it is refused.
func TestGuestResetKeepsBoard(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=shell")
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	ln, _ := expect(t, a, bootID.String(), 0, bootTimeout)
	first := bootID.FindStringSubmatch(ln.Text)[1]
	time.Sleep(2 * time.Second)

	// The reset, with the API asked all along.
	poll := l.poll("10.77.0.11")
	start := time.Now()
	second, _ := rebootGuest(t, a, "reboot -f", `ferry: guest asked for SYSTEM_RESET: restarted in`, first)
	took := time.Since(start)
	ok, failed, last := poll.end()
	t.Logf("the guest was back in userspace %v after its reboot; the API answered %d times meanwhile, failed %d", took.Round(time.Millisecond), ok, failed)
	if failed > 0 || ok < 3 {
		t.Fatalf("the API answered %d times and failed %d times across the guest's reset (last: %s)", ok, failed, last)
	}
	for _, ln := range a.Lines() {
		if regexp.MustCompile(`FATAL|ferry: EL2, MIDR`).MatchString(ln.Text) && ln.At.After(start) {
			t.Fatalf("the board restarted or stopped: %q", ln.Text)
		}
	}
	out, err := l.ferryctl("", "status", "10.77.0.11")
	if err != nil || !regexp.MustCompile(`guest +running \(reset 1 time by itself, last SYSTEM_RESET `).MatchString(out) {
		t.Fatalf("status after the reset: %v\n%s", err, out)
	}

	// The reset guest moves, and resets again on the destination.
	if out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12"); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("migration of the reset guest: %v", err)
	}
	_, recv := expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	time.Sleep(time.Second)
	if err := b.Send("echo on-b-$(cat /tmp/boot_id)\n"); err != nil {
		t.Fatal(err)
	}
	expect(t, b, `^on-b-`+second, recv, 30*time.Second)
	rebootGuest(t, b, "reboot -f", `ferry: guest asked for SYSTEM_RESET: restarted in`, second)
	out, err = l.ferryctl("", "status", "10.77.0.12")
	if err != nil || !regexp.MustCompile(`guest +running \(reset 1 time by itself`).MatchString(out) ||
		!regexp.MustCompile(`decided +\w+: committed \(destination, peer "a"\)`).MatchString(out) {
		t.Fatalf("the destination's status after the guest's reset there (its ledger should keep the migration): %v\n%s", err, out)
	}

	// Power-off: the board stays up, the guest is off and stays here.
	rebootGuest(t, b, "poweroff -f", `ferry: guest asked for SYSTEM_OFF: it is powered off`, "")
	out, err = l.ferryctl("", "status", "10.77.0.12")
	if err != nil || !regexp.MustCompile(`guest +off \(powered off by itself: SYSTEM_OFF .* ago; reset 1 time by itself\)`).MatchString(out) ||
		!regexp.MustCompile(`decided +\w+: committed`).MatchString(out) {
		t.Fatalf("status after the guest's power-off: %v\n%s", err, out)
	}
	if out, err := l.ferryctl("", "migrate", "10.77.0.12", "10.77.0.11"); err == nil || !regexp.MustCompile(`powered itself off \(SYSTEM_OFF\): there is nothing to move`).MatchString(out) {
		t.Fatalf("migration of a guest that is off: %v\n%s", err, out)
	}
	for _, p := range []*qemu.Process{a, b} {
		for _, ln := range p.Lines() {
			if regexp.MustCompile(`FATAL|Kernel panic`).MatchString(ln.Text) {
				t.Fatalf("console: %q", ln.Text)
			}
		}
	}
}
