package system

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/hostnet"
)

// stream is a client's TCP stream through the guest's echo service: it
// sends numbered bytes at a steady rate and checks every byte that comes
// back, and notes the longest time nothing came back.
type stream struct {
	c          net.Conn
	sent, got  atomic.Int64
	stop       atomic.Bool
	mu         sync.Mutex
	err        error
	last       time.Time
	stall      time.Duration
	stallUntil time.Time
	wrote      chan struct{} // closed when the writer has stopped
	read       chan struct{} // closed when the reader has stopped
}

const (
	chunk = 4096
	rate  = 1 << 20 // bytes a second the client sends
)

func newStream(c net.Conn) *stream {
	s := &stream{c: c, last: time.Now(), wrote: make(chan struct{}), read: make(chan struct{})}
	go s.write()
	go s.receive()
	return s
}

func (s *stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *stream) write() {
	defer close(s.wrote)
	tick := time.NewTicker(time.Second * chunk / rate)
	defer tick.Stop()
	for range tick.C {
		if s.stop.Load() {
			return
		}
		from := s.sent.Load()
		s.c.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := s.c.Write(numbered(int(from), chunk)); err != nil {
			s.fail(fmt.Errorf("write at byte %d: %w", from, err))
			return
		}
		s.sent.Add(chunk)
	}
}

func (s *stream) receive() {
	defer close(s.read)
	buf := make([]byte, 64<<10)
	for {
		s.c.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := s.c.Read(buf)
		now := time.Now()
		if n > 0 {
			from := int(s.got.Load())
			if want := numbered(from, n); string(buf[:n]) != string(want) {
				i := 0
				for buf[i] == want[i] {
					i++
				}
				s.fail(fmt.Errorf("the echo differs at byte %d: lost, duplicated or reordered", from+i))
				return
			}
			s.mu.Lock()
			if d := now.Sub(s.last); d > s.stall {
				s.stall, s.stallUntil = d, now
			}
			s.last = now
			s.mu.Unlock()
			s.got.Add(int64(n))
		}
		if err != nil {
			if !s.stop.Load() || s.got.Load() != s.sent.Load() {
				s.fail(fmt.Errorf("read at byte %d: %w", s.got.Load(), err))
			}
			return
		}
	}
}

// check fails t if the stream broke.
func (s *stream) check(t *testing.T, when string) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		t.Fatalf("%s: %v", when, s.err)
	}
}

// flowing waits until more than n bytes have come back.
func (s *stream) flowing(t *testing.T, n int64, within time.Duration) {
	t.Helper()
	for deadline := time.Now().Add(within); s.got.Load() <= n; {
		s.check(t, "waiting for the echo")
		if time.Now().After(deadline) {
			t.Fatalf("the echo stopped at byte %d (sent %d)", s.got.Load(), s.sent.Load())
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

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	client, err := hostnet.Join(ctx, hostnet.Config{Switch: data, Addr: netip.MustParsePrefix(clientIP), MTU: 1500})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	c, err := client.Dial(ctx, guestIP+":"+echoPort)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := newStream(c)
	s.flowing(t, 256<<10, 30*time.Second)

	for i, hop := range []struct{ from, to, toName string }{{"10.77.0.11", "10.77.0.12", "b"}, {"10.77.0.12", "10.77.0.11", "a"}} {
		src, dst := a, b
		if i == 1 {
			src, dst = b, a
		}
		mark, dmark := len(src.Lines()), len(dst.Lines())
		before := s.got.Load()
		if out, err := l.ferryctl("", "migrate", hop.from, hop.to); err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
			t.Fatalf("migration %d: %v", i+1, err)
		}
		expect(t, src, `ferry: migration \w+ to `+regexp.QuoteMeta(hop.to)+`:7001 \(`+hop.toName+`\) committed and confirmed`, mark, time.Minute)
		ln, _ := expect(t, dst, `ferry: guest NIC at 0xa003c00: announced 52:54:00:88:00:10 from here: 5 of 5 RARP frames sent`, dmark, time.Minute)
		t.Logf("migration %d: %s", i+1, ln.Text)
		s.flowing(t, before+512<<10, time.Minute)
		s.check(t, fmt.Sprintf("after migration %d", i+1))
	}
	s.stop.Store(true)
	<-s.wrote
	for deadline := time.Now().Add(time.Minute); s.got.Load() != s.sent.Load(); time.Sleep(50 * time.Millisecond) {
		s.check(t, "waiting for the last bytes")
		if time.Now().After(deadline) {
			t.Fatalf("the last bytes did not come back: sent %d, got %d", s.sent.Load(), s.got.Load())
		}
	}
	c.Close() // ends the reader
	<-s.read
	s.check(t, "at the end")
	if s.got.Load() != s.sent.Load() {
		t.Fatalf("sent %d bytes, %d came back", s.sent.Load(), s.got.Load())
	}
	t.Logf("%d bytes echoed in order across two migrations; the longest stall the client saw: %v (ending %s)",
		s.got.Load(), s.stall.Round(time.Millisecond), s.stallUntil.Format("15:04:05.000"))

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
