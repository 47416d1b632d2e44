// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hostnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/l2switch"
)

// startSwitch runs an in-process switch on 127.0.0.1 and returns its address.
func startSwitch(t *testing.T) (*l2switch.Switch, string) {
	t.Helper()
	sw := l2switch.New(l2switch.Config{Logf: t.Logf})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go sw.Serve(l)
	t.Cleanup(func() { sw.Close() })
	return sw, l.Addr().String()
}

func join(t *testing.T, sw, addr string, mtu int) *Net {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n, err := Join(ctx, Config{Switch: sw, Addr: netip.MustParsePrefix(addr), MTU: mtu, Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// exchange writes size random bytes on c while reading size bytes from it,
// and returns the digests of what was sent and received.
func exchange(c net.Conn, seed uint64, size int) (sent, got [32]byte, err error) {
	c.SetDeadline(time.Now().Add(30 * time.Second))
	data := make([]byte, size)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		werr <- err
	}()
	h := sha256.New()
	if _, err := io.CopyN(h, c, int64(size)); err != nil {
		return sent, got, fmt.Errorf("read: %w", err)
	}
	if err := <-werr; err != nil {
		return sent, got, fmt.Errorf("write: %w", err)
	}
	copy(got[:], h.Sum(nil))
	return sha256.Sum256(data), got, nil
}

// Two stacks on one switch exchange data both ways at once, with frames as
// large as the MTU allows.
func TestTCPBothWays(t *testing.T) {
	const size = 4 << 20
	for _, mtu := range []int{1500, 9000, 65000} {
		t.Run(fmt.Sprintf("mtu%d", mtu), func(t *testing.T) {
			_, sw := startSwitch(t)
			a := join(t, sw, "10.77.0.2/24", mtu)
			b := join(t, sw, "10.77.0.3/24", mtu)

			l, err := b.Listen(7000)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			type result struct {
				sent, got [32]byte
				err       error
			}
			server := make(chan result, 1)
			go func() {
				c, err := l.Accept()
				if err != nil {
					server <- result{err: err}
					return
				}
				defer c.Close()
				if ra := c.RemoteAddr().String(); !strings.HasPrefix(ra, "10.77.0.2:") {
					server <- result{err: fmt.Errorf("accepted a connection from %s, want 10.77.0.2", ra)}
					return
				}
				s, g, err := exchange(c, 2, size)
				server <- result{s, g, err}
			}()

			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			c, err := a.Dial(ctx, "10.77.0.3:7000")
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			aSent, aGot, err := exchange(c, 1, size)
			if err != nil {
				t.Fatalf("client: %v", err)
			}
			r := <-server
			if r.err != nil {
				t.Fatalf("server: %v", r.err)
			}
			if aSent != r.got || r.sent != aGot {
				t.Fatal("data differs between the ends")
			}

			for name, n := range map[string]*Net{"a": a, "b": b} {
				st := n.Stats()
				if st.MaxTxFrame > uint64(mtu+14) || st.MaxTxFrame < uint64(mtu+14-64) {
					t.Errorf("%s: largest frame sent %d bytes; want full-size frames of at most %d", name, st.MaxTxFrame, mtu+14)
				}
				if st.TxBytes < size || st.RxBytes < size {
					t.Errorf("%s: stats %+v, want at least %d bytes each way", name, st, size)
				}
			}
			t.Logf("a: %+v", a.Stats())
		})
	}
}

// A 9000-byte-MTU stack and a 1500-byte one agree on the smaller segment.
func TestMixedMTU(t *testing.T) {
	_, sw := startSwitch(t)
	a := join(t, sw, "10.77.0.2/24", 9000)
	b := join(t, sw, "10.77.0.3/24", 1500)
	l, err := b.Listen(7000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		c, err := l.Accept()
		if err == nil {
			io.Copy(c, c)
			c.Close()
		}
	}()
	c, err := a.DialTimeout("10.77.0.3:7000", 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	msg := bytes.Repeat([]byte("ferry"), 100000)
	go c.Write(msg)
	got := make([]byte, len(msg))
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(c, got); err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("echo: %v", err)
	}
	if m := a.Stats().MaxTxFrame; m > 1514 {
		t.Errorf("9000-MTU side sent a %d-byte frame to a 1500-MTU peer", m)
	}
}

func TestDialErrors(t *testing.T) {
	_, sw := startSwitch(t)
	a := join(t, sw, "10.77.0.2/24", 0)
	b := join(t, sw, "10.77.0.3/24", 0)
	_ = b

	// Nobody listens on b:7000: refused, quickly.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.Dial(ctx, "10.77.0.3:7000"); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Errorf("dial a closed port: %v, want connection refused", err)
	}

	// Nobody has the address: the dial ends by the deadline.
	start := time.Now()
	ctx, cancel = context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, err := a.Dial(ctx, "10.77.0.99:7000"); err == nil {
		t.Error("dial a missing host succeeded")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("dial a missing host took %v", d)
	}

	for _, addr := range []string{"192.168.1.1:80", "10.77.0.3", "10.77.0.3:0", "host:1"} {
		if _, err := a.Dial(context.Background(), addr); err == nil {
			t.Errorf("Dial(%q) succeeded", addr)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	ctx := context.Background()
	for _, cfg := range []Config{
		{Switch: "10.77.0.1:7777"}, // refused before any socket is opened
		{Switch: ":7777"},
		{Switch: "127.0.0.1:7777", MTU: 70000},
		{Switch: "127.0.0.1:7777", MTU: 100},
		{Switch: "127.0.0.1:7777", Addr: netip.MustParsePrefix("fd00::2/64")},
		{Switch: "127.0.0.1:7777", MAC: net.HardwareAddr{1, 2, 3, 4, 5, 6}},
	} {
		if n, err := Join(ctx, cfg); err == nil {
			n.Close()
			t.Errorf("Join(%+v) succeeded", cfg)
		}
	}
	for _, sw := range []string{"10.77.0.1:7777", "[::1]:7777", "127.0.0.2:7777"} {
		if _, err := Join(ctx, Config{Switch: sw}); err == nil || !strings.Contains(err.Error(), "is not 127.0.0.1") {
			t.Errorf("switch %s: %v, want a refusal (127.0.0.1 only)", sw, err)
		}
	}
}

// When the switch goes away the stack says so instead of hanging.
func TestSwitchGone(t *testing.T) {
	s, sw := startSwitch(t)
	a := join(t, sw, "10.77.0.2/24", 0)
	s.Close()
	deadline := time.Now().Add(5 * time.Second)
	for a.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if a.Err() == nil {
		t.Fatal("link still up after the switch closed")
	}
	if _, err := a.Dial(context.Background(), "10.77.0.3:7000"); err == nil || !strings.Contains(err.Error(), "switch") {
		t.Errorf("dial with the link down: %v", err)
	}
}

func TestDefaultMAC(t *testing.T) {
	if got := DefaultMAC(netip.MustParseAddr("10.77.0.2")).String(); got != "02:00:0a:4d:00:02" {
		t.Errorf("DefaultMAC(10.77.0.2) = %s", got)
	}
}

// A second stack asking for an address already on the link is refused; the
// first keeps working.
func TestDuplicateAddress(t *testing.T) {
	_, sw := startSwitch(t)
	a := join(t, sw, "10.77.0.2/24", 0)
	b := join(t, sw, "10.77.0.3/24", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Same address with the same (default) MAC -- a second ferryctl -- or
	// with another MAC.
	for _, mac := range []net.HardwareAddr{nil, {2, 0, 0, 0, 0, 9}} {
		dup, err := Join(ctx, Config{Switch: sw, Addr: netip.MustParsePrefix("10.77.0.2/24"), MAC: mac, Logf: t.Logf})
		if err == nil {
			dup.Close()
			t.Fatalf("second stack at 10.77.0.2 (MAC %v) joined", mac)
		}
		if !errors.Is(err, ErrAddrInUse) || !strings.Contains(err.Error(), a.MAC().String()) {
			t.Errorf("duplicate join (MAC %v): %v; want ErrAddrInUse naming %v", mac, err, a.MAC())
		}
	}
	l, err := a.Listen(7000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		if c, err := l.Accept(); err == nil {
			c.Write([]byte("still here"))
			c.Close()
		}
	}()
	c, err := b.DialTimeout("10.77.0.2:7000", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if string(got) != "still here" {
		t.Errorf("after the refused duplicate: read %q", got)
	}
}

// Nobody at the address: the dial fails after ARP gives up, and says so.
func TestDialNobody(t *testing.T) {
	_, sw := startSwitch(t)
	a := join(t, sw, "10.77.0.2/24", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	_, err := a.Dial(ctx, "10.77.0.99:7000")
	if err == nil || !strings.Contains(err.Error(), "nobody answers ARP for 10.77.0.99") {
		t.Errorf("dial nobody: %v", err)
	}
}

// A sender that keeps writing while a lost window fills its congestion
// window still times out and sends again: a link cut for a moment (a
// migration's switchover) costs a retransmission timeout or two, not the
// time it takes the writes to fill the send buffer (with gVisor's RACK-TLP,
// whose probe restarts the timer at every write, that was about 5 s here).
func TestTimesOutWhileWriting(t *testing.T) {
	swc, sw := startSwitch(t)
	a := join(t, sw, "10.77.0.2/24", 1500)
	b := join(t, sw, "10.77.0.3/24", 1500)
	l, err := b.Listen(7000)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	got := make(chan time.Time, 1024) // when each read returned
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 64<<10)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			select {
			case got <- time.Now():
			default:
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := a.Dial(ctx, "10.77.0.3:7000")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	done := make(chan struct{})
	defer close(done)
	go func() { // 200 KiB/s: 2 KiB every 10 ms, far from filling the send buffer in a second
		chunk := make([]byte, 2<<10)
		for t := time.NewTicker(10 * time.Millisecond); ; {
			select {
			case <-t.C:
				c.SetWriteDeadline(time.Now().Add(10 * time.Second))
				if _, err := c.Write(chunk); err != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	wait := func(after time.Time, within time.Duration) (time.Time, bool) {
		deadline := time.After(within)
		for {
			select {
			case at := <-got:
				if at.After(after) {
					return at, true
				}
			case <-deadline:
				return time.Time{}, false
			}
		}
	}
	if _, ok := wait(time.Now(), 5*time.Second); !ok {
		t.Fatal("no data before the cut")
	}
	port, ok := swc.Lookup(l2switch.MAC(a.MAC()))
	if !ok {
		t.Fatal("the switch has not learned the sender's port")
	}
	if err := swc.SetLink(port, false); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // the writes fill the congestion window
	if err := swc.SetLink(port, true); err != nil {
		t.Fatal(err)
	}
	up := time.Now()
	for len(got) > 0 {
		<-got
	}
	at, ok := wait(up, 2*time.Second)
	if !ok {
		t.Fatalf("no data within 2 s of the link coming back (stats %+v)", a.Stats())
	}
	st := a.Stats()
	if st.Timeouts == 0 {
		t.Errorf("stats %+v: no retransmission timeout", st)
	}
	t.Logf("data again %v after the link came back; sender %+v", at.Sub(up).Round(time.Millisecond), st)
}
