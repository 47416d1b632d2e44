package system

import (
	"context"
	"encoding/json"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// A station on the management link with no key at all floods the
// destination: silent connections to its migration and API ports, and
// connections pouring junk into them. A real migration still goes
// through, the destination's heap stays bounded, and both boards answer.
func TestHostileConnections(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", guestArgs)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	expect(t, a, counterT.String(), 0, bootTimeout)
	before := l.heap(t, "10.77.0.12")

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	evil, err := hostnet.Join(ctx, hostnet.Config{Switch: l.switch_, Addr: netip.MustParsePrefix("10.77.0.66/24"), MTU: 65510, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	defer evil.Close()
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	open := func(port string, junk bool) {
		c, err := evil.Dial(ctx, "10.77.0.12:"+port)
		if err != nil {
			t.Logf("attacker: %v", err) // refused or reset: that is the defence
			return
		}
		conns = append(conns, c)
		if junk {
			c.SetWriteDeadline(time.Now().Add(2 * time.Second))
			c.Write(make([]byte, 1<<20)) // as much as the board takes
		}
	}
	for range 30 {
		open("7001", false)
		open("7000", false)
	}
	for range 40 {
		open("7001", true)
		open("7000", true)
	}
	during := l.heap(t, "10.77.0.12")

	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12")
	if err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("a real migration during the flood: %v", err)
	}
	_, recv := expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	expect(t, b, counterT.String(), recv, 30*time.Second)
	after := l.heap(t, "10.77.0.12")
	t.Logf("destination heap: %d MiB before, %d MiB during the flood of %d connections, %d MiB after the migration",
		before>>20, during>>20, len(conns), after>>20)
	// The carve-out is 128 MiB; the heap must stay far from it.
	if during > 48<<20 || during > before+32<<20 {
		t.Fatalf("the flood grew the destination's heap from %d to %d bytes", before, during)
	}
	for _, p := range []*qemu.Process{a, b} {
		for _, ln := range p.Lines() {
			if strings.Contains(ln.Text, "FATAL") || strings.Contains(ln.Text, "out of memory") {
				t.Fatalf("console: %q", ln.Text)
			}
		}
	}
}

// heap asks a board for its heap in use.
func (l *link) heap(t *testing.T, board string) uint64 {
	t.Helper()
	out, err := l.ferryctl("", "status", "-json", board)
	if err != nil {
		t.Fatalf("status %s: %v", board, err)
	}
	var st api.Status
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &st) != nil || st.Heap == 0 {
		t.Fatalf("status %s: no heap in %q", board, out)
	}
	return st.Heap
}
