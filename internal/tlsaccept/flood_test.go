// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package tlsaccept

import (
	"crypto/rand"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/pki"
)

// fakeListener is a listener on an emulated link: dial hands it a pipe
// whose far end says it comes from the address given, as a station on
// the management link may pick any address. Its backlog is bounded, as
// the netstack's is.
type fakeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once

	open, most atomic.Int64 // server ends open now, and at most
}

func newFakeListener(backlog int) *fakeListener {
	return &fakeListener{conns: make(chan net.Conn, backlog), done: make(chan struct{})}
}

func (l *fakeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *fakeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *fakeListener) Addr() net.Addr { return &net.TCPAddr{IP: net.IPv4(10, 77, 0, 12), Port: 7001} }

// dial connects from ip (a port of its own each time); it waits while
// the backlog is full.
func (l *fakeListener) dial(ip string, port int) (net.Conn, error) {
	x, y := net.Pipe()
	c := &fromConn{Conn: y, remote: &net.TCPAddr{IP: net.ParseIP(ip), Port: port}, l: l}
	select {
	case l.conns <- c:
		if n := l.open.Add(1); n > l.most.Load() {
			l.most.Store(n) // (a race between two dials only lowers it)
		}
		return x, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

type fromConn struct {
	net.Conn
	remote net.Addr
	l      *fakeListener
	once   sync.Once
}

func (c *fromConn) RemoteAddr() net.Addr { return c.remote }

func (c *fromConn) Close() error {
	c.once.Do(func() { c.l.open.Add(-1) })
	return c.Conn.Close()
}

var ports atomic.Int32

// attack keeps silent connections open to l from each of addrs, perAddr
// at a time from each, dialling again as soon as the listener closes
// one, until stop is closed.
func attack(l *fakeListener, addrs []string, perAddr int, stop chan struct{}) (opened *atomic.Int64, wait func()) {
	opened = new(atomic.Int64)
	var wg sync.WaitGroup
	for _, a := range addrs {
		for range perAddr {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := l.dial(a, 20000+int(ports.Add(1)))
					if err != nil {
						return
					}
					opened.Add(1)
					go func() { <-stop; c.Close() }()
					io.Copy(io.Discard, c) // until the listener closes it
					c.Close()
				}
			}()
		}
	}
	return opened, wg.Wait
}

// handshakes has peer (from ip) complete as many handshakes with x as it
// can in d, one at a time, each given 2 s; it returns how many got
// through of how many were tried.
func handshakes(t *testing.T, l *fakeListener, x *Listener, ip string, peer *pki.Bundle, d time.Duration) (ok, tried int) {
	t.Helper()
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			c, err := x.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	for end := time.Now().Add(d); time.Now().Before(end); {
		tried++
		raw, err := l.dial(ip, 30000+int(ports.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		raw.SetDeadline(time.Now().Add(2 * time.Second))
		c := tls.Client(raw, peer.ClientConfig(pki.Options{}))
		if c.Handshake() == nil {
			// TLS 1.3: the server checks our Finished after we return; a
			// read says whether it kept the connection (it closes it
			// after Accept, so EOF, not a timeout or an alert).
			_, err := c.Read(make([]byte, 1))
			if err == io.EOF {
				ok++
			}
		}
		c.Close()
	}
	return ok, tried
}

// A keyless station with several addresses keeps silent connections open
// to every handshake slot it can get, re-opening each as soon as it is
// dropped, for as long as a real peer tries to get through: the peer,
// heard from once before, gets through every time. (Before the known
// pool: 1 of 4681 in 4 s.)
func TestFloodFromSeveralAddresses(t *testing.T) {
	board, ctl := bundles(t)
	l := newFakeListener(16)
	x := New(l, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: 2 * time.Second, MaxHandshakes: 4, MaxConns: 16, Known: NewKnown()})
	defer x.Close()
	const peer = "10.77.0.2"

	// The peer is heard from once before the flood.
	if ok, _ := handshakes(t, l, x, peer, ctl, 200*time.Millisecond); ok == 0 {
		t.Fatal("no handshake without a flood")
	}
	var evil []string
	for i := range 4 {
		evil = append(evil, fmt.Sprintf("10.77.0.%d", 66+i))
	}
	stop := make(chan struct{})
	opened, wait := attack(l, evil, 4, stop)
	time.Sleep(200 * time.Millisecond) // the flood takes its slots
	ok, tried := handshakes(t, l, x, peer, ctl, 4*time.Second)
	close(stop)
	l.Close()
	wait()
	t.Logf("the peer completed %d of %d handshakes in 4 s against %d silent connections from %d addresses", ok, tried, opened.Load(), len(evil))
	if ok < tried*9/10 || ok < 10 {
		t.Fatalf("the flood starved the peer: %d of %d handshakes", ok, tried)
	}
}

// A board told of an address (the other board of a migration) keeps
// slots for it before it ever connected; a first contact from an address
// nobody named competes with the flood in the open pool (it may get
// nothing: that is the limit of what an address can tell, see
// docs/decisions.md).
func TestFloodToldAddress(t *testing.T) {
	board, ctl := bundles(t)
	l := newFakeListener(16)
	k := NewKnown()
	k.Tell(netip.MustParseAddr("10.77.0.11"), time.Now().Add(time.Minute))
	x := New(l, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: 2 * time.Second, MaxHandshakes: 4, MaxConns: 16, Known: k})
	defer x.Close()
	var evil []string
	for i := range 8 {
		evil = append(evil, fmt.Sprintf("10.77.0.%d", 66+i))
	}
	stop := make(chan struct{})
	_, wait := attack(l, evil, 2, stop)
	time.Sleep(200 * time.Millisecond)
	ok, tried := handshakes(t, l, x, "10.77.0.11", ctl, 2*time.Second)
	strangerOK, strangerTried := handshakes(t, l, x, "10.77.0.99", ctl, time.Second)
	close(stop)
	l.Close()
	wait()
	t.Logf("told address: %d of %d handshakes; a stranger: %d of %d", ok, tried, strangerOK, strangerTried)
	if ok < tried*9/10 || ok < 5 {
		t.Fatalf("the flood starved the address the board was told of: %d of %d handshakes", ok, tried)
	}
}

// Whatever addresses a flood takes -- a known peer's among them -- it
// holds no more than the two pools' slots, and a silent connection loses
// its slot after HelloTimeout, well before HandshakeTimeout; one that
// sent its first bytes keeps it until HandshakeTimeout.
func TestFloodTotalBound(t *testing.T) {
	board, ctl := bundles(t)
	l := newFakeListener(16)
	x := New(l, Config{TLS: board.ServerConfig(pki.Options{}), HelloTimeout: time.Second, HandshakeTimeout: 4 * time.Second,
		MaxHandshakes: 4, MaxKnownHandshakes: 2, MaxConns: 3, Known: NewKnown()})
	defer x.Close()
	defer l.Close()
	if ok, _ := handshakes(t, l, x, "10.77.0.2", ctl, 100*time.Millisecond); ok == 0 {
		t.Fatal("no handshake without a flood")
	}
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	dial := func(ip string) net.Conn {
		c, err := l.dial(ip, 40000+int(ports.Add(1)))
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c)
		return c
	}
	// settles waits (at most until) for the listener to hold want
	// connections.
	settles := func(want int64, until time.Duration) bool {
		for end := time.Now().Add(until); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			if l.open.Load() == want {
				return true
			}
		}
		return false
	}
	// One that talks first, then 3 silent ones from each of 30 addresses
	// and from the known peer's.
	start := time.Now()
	talker := dial("10.77.0.99")
	go talker.Write([]byte{22, 3, 1}) // the start of a ClientHello's record
	for i := range 31 {
		ip := fmt.Sprintf("10.77.0.%d", 100+i)
		if i == 30 {
			ip = "10.77.0.2"
		}
		for range 3 {
			dial(ip)
		}
	}
	if !settles(4+2, 900*time.Millisecond) {
		t.Fatalf("%d connections held, want the 4 + 2 slots", l.open.Load())
	}
	// Past HelloTimeout only the one that spoke is held.
	if !settles(1, 2*time.Second) {
		t.Fatalf("%d connections held after HelloTimeout, want the one that spoke", l.open.Load())
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("the silent ones were held %v", d)
	}
	talker.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.Copy(io.Discard, talker)
	if d := time.Since(start); d < 3500*time.Millisecond || d > 6*time.Second {
		t.Fatalf("the connection that spoke was closed after %v, want HandshakeTimeout's 4 s", d)
	}
}

// forgetful is a connection that no longer knows its peer's address once
// it has been asked for it: gVisor's gonet answers RemoteAddr with nil
// after the peer has reset the connection.
type forgetful struct {
	*fromConn
	asked atomic.Bool
}

func (c *forgetful) RemoteAddr() net.Addr {
	if c.asked.Swap(true) {
		return nil
	}
	return c.fromConn.RemoteAddr()
}

// A peer that resets its connection during the handshake (a client that
// refuses the board's certificate) leaves the listener serving, its slot
// given back. The listener asked the connection for the address again
// after the handshake, got nil, and called a method of it: the board
// stopped at EL2 (a call through a nil interface), for any keyless
// station that rejects its certificate.
func TestPeerGoneDuringHandshake(t *testing.T) {
	board, _ := bundles(t)
	k, err := pki.Generate("another CA", []pki.Node{{Name: "ctl"}}, pki.NewWindow(time.Now(), time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := pki.LoadBundle(k.Bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	l := newFakeListener(4)
	x := New(l, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: time.Second, MaxHandshakes: 1, MaxConns: 4, MaxPerPeer: 1, Known: NewKnown()})
	defer x.Close()
	for i := range 3 { // one slot: each must be given back for the next
		x0, y := net.Pipe()
		c := &forgetful{fromConn: &fromConn{Conn: y, remote: &net.TCPAddr{IP: net.ParseIP("10.77.0.66"), Port: 4000 + i}, l: l}}
		l.open.Add(1)
		l.conns <- c
		tc := tls.Client(x0, stranger.ClientConfig(pki.Options{}))
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		go func() {
			tc.Handshake() // then gone, as a client that refuses the board
			x0.Close()
		}()
		deadline := time.Now().Add(5 * time.Second)
		for x.inProgress() != 0 || l.open.Load() != 0 {
			if time.Now().After(deadline) {
				t.Fatalf("connection %d: %d handshakes in progress, %d connections open", i, x.inProgress(), l.open.Load())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}
