// Package tlsaccept accepts TLS connections without letting anyone who
// connects hold the listener: every handshake runs in its own goroutine
// under its own short deadline, only a few run at once, and only a few
// connections are open at once; whatever comes beyond those is closed at
// once. A peer needs no key to open a TCP connection, so nothing it can do
// before its handshake completes may block the next peer or pin memory.
package tlsaccept

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// Config bounds a Listener.
type Config struct {
	TLS              *tls.Config
	HandshakeTimeout time.Duration // each handshake, and the wait to be accepted after it
	MaxHandshakes    int           // handshakes in progress at once
	MaxConns         int           // connections open at once, handshakes included
	// MaxPerPeer is how many handshakes one remote address may have in
	// progress at once (default 2), so that one station cannot take every
	// handshake slot from the others.
	MaxPerPeer int
	// Log, if set, is told about each connection refused or failed.
	Log func(format string, args ...any)
}

// Listener is a net.Listener whose Accept returns *tls.Conn connections
// whose handshake has completed.
type Listener struct {
	l     net.Listener
	c     Config
	shake chan struct{} // a token per handshake in progress
	open  chan struct{} // a token per open connection
	ready chan *tls.Conn
	done  chan struct{}
	once  sync.Once
	err   error

	mu    sync.Mutex
	peers map[string]int // handshakes in progress per remote address
}

// New starts accepting on l.
func New(l net.Listener, c Config) *Listener {
	c.MaxHandshakes = max(c.MaxHandshakes, 1)
	c.MaxConns = max(c.MaxConns, c.MaxHandshakes)
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.MaxPerPeer <= 0 {
		c.MaxPerPeer = 2
	}
	x := &Listener{
		l: l, c: c,
		shake: make(chan struct{}, c.MaxHandshakes),
		open:  make(chan struct{}, c.MaxConns),
		ready: make(chan *tls.Conn),
		done:  make(chan struct{}),
		peers: map[string]int{},
	}
	go x.loop()
	return x
}

func (x *Listener) logf(format string, args ...any) {
	if x.c.Log != nil {
		x.c.Log(format, args...)
	}
}

func (x *Listener) loop() {
	for {
		c, err := x.l.Accept()
		if err != nil {
			x.once.Do(func() { x.err = err; close(x.done) })
			return
		}
		select {
		case x.open <- struct{}{}:
		default:
			x.logf("%s: refused: %d connections open", c.RemoteAddr(), x.c.MaxConns)
			c.Close()
			continue
		}
		peer := host(c.RemoteAddr())
		if !x.takePeer(peer) {
			<-x.open
			x.logf("%s: refused: %d handshakes in progress from that address", c.RemoteAddr(), x.c.MaxPerPeer)
			c.Close()
			continue
		}
		select {
		case x.shake <- struct{}{}:
		default:
			x.givePeer(peer)
			<-x.open
			x.logf("%s: refused: %d handshakes in progress", c.RemoteAddr(), x.c.MaxHandshakes)
			c.Close()
			continue
		}
		go x.handshake(c, peer)
	}
}

func host(a net.Addr) string {
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

func (x *Listener) takePeer(p string) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.peers[p] >= x.c.MaxPerPeer {
		return false
	}
	x.peers[p]++
	return true
}

func (x *Listener) givePeer(p string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.peers[p]--; x.peers[p] <= 0 {
		delete(x.peers, p)
	}
}

// handshake completes one connection's handshake within the timeout and
// hands it to Accept within the same timeout again, or closes it.
func (x *Listener) handshake(raw net.Conn, peer string) {
	tc := tls.Server(&counted{Conn: raw, x: x}, x.c.TLS)
	raw.SetDeadline(time.Now().Add(x.c.HandshakeTimeout))
	err := tc.Handshake()
	<-x.shake
	x.givePeer(peer)
	if err != nil {
		x.logf("%s: handshake: %v", raw.RemoteAddr(), err)
		tc.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	t := time.NewTimer(x.c.HandshakeTimeout)
	defer t.Stop()
	select {
	case x.ready <- tc:
	case <-t.C:
		x.logf("%s: not taken within %v: closed", raw.RemoteAddr(), x.c.HandshakeTimeout)
		tc.Close()
	case <-x.done:
		tc.Close()
	}
}

// Accept returns the next connection whose handshake completed.
func (x *Listener) Accept() (net.Conn, error) {
	select {
	case c := <-x.ready:
		return c, nil
	case <-x.done:
		return nil, x.err
	}
}

// Close stops the listener; connections already accepted stay open.
func (x *Listener) Close() error {
	err := x.l.Close()
	x.once.Do(func() { x.err = net.ErrClosed; close(x.done) })
	return err
}

// Addr is the listener's address.
func (x *Listener) Addr() net.Addr { return x.l.Addr() }

// counted gives its connection's token back when it is closed.
type counted struct {
	net.Conn
	x    *Listener
	once sync.Once
}

func (c *counted) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() { <-c.x.open })
	return err
}
