// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package tlsaccept accepts TLS connections without letting anyone who
// connects hold the listener: every handshake runs in its own goroutine
// under its own deadlines, only a few run at once, and only a few
// connections are open at once; whatever comes beyond those is closed at
// once. A peer needs no key to open a TCP connection, so nothing it can do
// before its handshake completes may block the next peer or pin memory.
//
// Handshakes run in two pools of slots. The known pool is kept for the
// addresses of a Known set -- peers that completed a handshake before,
// and addresses the board was told of -- and the open pool takes
// everyone else (and a known address whose own slots are taken). Each
// pool bounds the handshakes of one address too. A connection must send
// the first bytes of its ClientHello within HelloTimeout and complete its
// handshake within HandshakeTimeout. So a station without a key, however
// many addresses it takes, holds at most the open pool, each slot for at
// most HelloTimeout if it stays silent, and never the slots of a peer the
// board knows.
package tlsaccept

import (
	"crypto/tls"
	"net"
	"sync"
	"time"
)

// Config bounds a Listener.
type Config struct {
	TLS *tls.Config
	// HelloTimeout is how long a connection may stay silent before the
	// first bytes of its ClientHello (default 1 s, at most
	// HandshakeTimeout): a real peer sends it at once.
	HelloTimeout time.Duration
	// HandshakeTimeout bounds each whole handshake, and the wait to be
	// accepted after it (default 5 s).
	HandshakeTimeout time.Duration
	// MaxHandshakes is how many handshakes from addresses not Known run
	// at once (the open pool; at least 1).
	MaxHandshakes int
	// MaxKnownHandshakes is how many handshakes from Known addresses run
	// at once in the slots kept for them (default MaxHandshakes; none
	// without Known).
	MaxKnownHandshakes int
	// MaxPerPeer is how many handshakes one remote address may have in
	// progress at once in each pool (default 2), so that one station
	// cannot take every slot from the others.
	MaxPerPeer int
	// MaxConns is how many connections whose handshake completed may be
	// open at once (at least 1). A connection beyond it is closed.
	MaxConns int
	// Known, if set, are the addresses that get the known pool; the
	// listener adds every peer that completes a handshake (Known.Learn,
	// by its certificate's common name).
	Known *Known
	// Log, if set, is told about each connection refused or failed.
	Log func(format string, args ...any)
}

// Listener is a net.Listener whose Accept returns *tls.Conn connections
// whose handshake has completed.
type Listener struct {
	l     net.Listener
	c     Config
	open  chan struct{} // a token per open connection, after its handshake
	ready chan *tls.Conn
	done  chan struct{}
	once  sync.Once
	err   error

	mu          sync.Mutex
	known, anon pool
}

// pool is a set of handshake slots, bounded in all and per address.
type pool struct {
	name  string
	max   int
	n     int
	peers map[string]int
}

func (p *pool) take(peer string, perPeer int) bool {
	if p.n >= p.max || p.peers[peer] >= perPeer {
		return false
	}
	p.n++
	p.peers[peer]++
	return true
}

func (p *pool) give(peer string) {
	p.n--
	if p.peers[peer]--; p.peers[peer] <= 0 {
		delete(p.peers, peer)
	}
}

// New starts accepting on l.
func New(l net.Listener, c Config) *Listener {
	c.MaxHandshakes = max(c.MaxHandshakes, 1)
	c.MaxConns = max(c.MaxConns, 1)
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = 5 * time.Second
	}
	if c.HelloTimeout <= 0 {
		c.HelloTimeout = time.Second
	}
	c.HelloTimeout = min(c.HelloTimeout, c.HandshakeTimeout)
	if c.MaxPerPeer <= 0 {
		c.MaxPerPeer = 2
	}
	switch {
	case c.Known == nil:
		c.MaxKnownHandshakes = 0
	case c.MaxKnownHandshakes <= 0:
		c.MaxKnownHandshakes = c.MaxHandshakes
	}
	x := &Listener{
		l: l, c: c,
		open:  make(chan struct{}, c.MaxConns),
		ready: make(chan *tls.Conn),
		done:  make(chan struct{}),
		known: pool{name: "known", max: c.MaxKnownHandshakes, peers: map[string]int{}},
		anon:  pool{name: "open", max: c.MaxHandshakes, peers: map[string]int{}},
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
		// The peer's address, once: a netstack's connection may no longer
		// know it once the peer has reset it (gVisor's gonet answers
		// nil), and the slot taken for it must be given back for it.
		ra := c.RemoteAddr()
		if ra == nil {
			c.Close()
			continue
		}
		if len(x.open) == cap(x.open) {
			x.logf("%s: refused: %d connections open", ra, x.c.MaxConns)
			c.Close()
			continue
		}
		p := x.slot(ra)
		if p == nil {
			x.logf("%s: refused: no handshake slot (%d in progress; at most %d per address)", ra, x.inProgress(), x.c.MaxPerPeer)
			c.Close()
			continue
		}
		go x.handshake(c, ra, p)
	}
}

// slot takes a handshake slot for a connection from a: in the known pool
// if a is known and a slot is free there, else in the open pool. It
// returns the pool, or nil if neither has a slot for a.
func (x *Listener) slot(a net.Addr) *pool {
	known := x.c.Known.Has(addrOf(a))
	peer := host(a)
	x.mu.Lock()
	defer x.mu.Unlock()
	if known && x.known.take(peer, x.c.MaxPerPeer) {
		return &x.known
	}
	if x.anon.take(peer, x.c.MaxPerPeer) {
		return &x.anon
	}
	return nil
}

func (x *Listener) release(p *pool, a net.Addr) {
	x.mu.Lock()
	defer x.mu.Unlock()
	p.give(host(a))
}

func (x *Listener) inProgress() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.known.n + x.anon.n
}

func host(a net.Addr) string {
	if a == nil {
		return ""
	}
	if h, _, err := net.SplitHostPort(a.String()); err == nil {
		return h
	}
	return a.String()
}

// handshake completes one connection's handshake within the timeouts and
// hands it to Accept within HandshakeTimeout again, or closes it.
func (x *Listener) handshake(raw net.Conn, ra net.Addr, p *pool) {
	now := time.Now()
	cc := &counted{Conn: raw, x: x, shakeBy: now.Add(x.c.HandshakeTimeout)}
	raw.SetDeadline(now.Add(x.c.HelloTimeout))
	tc := tls.Server(cc, x.c.TLS)
	err := tc.Handshake()
	x.release(p, ra)
	if err == nil && !cc.hold() {
		x.logf("%s: closed after its handshake: %d connections open", ra, x.c.MaxConns)
		tc.Close()
		return
	}
	if err != nil {
		if !cc.heard {
			err = errSilent{x.c.HelloTimeout, err}
		}
		x.logf("%s: handshake (%s slot): %v", ra, p.name, err)
		tc.Close()
		return
	}
	raw.SetDeadline(time.Time{})
	if cs := tc.ConnectionState(); x.c.Known != nil && len(cs.PeerCertificates) > 0 {
		x.c.Known.Learn(cs.PeerCertificates[0].Subject.CommonName, addrOf(ra))
	}
	t := time.NewTimer(x.c.HandshakeTimeout)
	defer t.Stop()
	select {
	case x.ready <- tc:
	case <-t.C:
		x.logf("%s: not taken within %v: closed", ra, x.c.HandshakeTimeout)
		tc.Close()
	case <-x.done:
		tc.Close()
	}
}

// errSilent is a handshake that failed before the peer sent anything.
type errSilent struct {
	d   time.Duration
	err error
}

func (e errSilent) Error() string {
	return "nothing received within " + e.d.String() + ": " + e.err.Error()
}
func (e errSilent) Unwrap() error { return e.err }

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

// counted is a connection during and after its handshake: its first bytes
// move its deadline from HelloTimeout to the whole handshake's, and once
// handshaken it holds a place among MaxConns until it is closed.
type counted struct {
	net.Conn
	x       *Listener
	shakeBy time.Time
	heard   bool // read its first bytes (only the handshake's goroutine reads until then)

	mu     sync.Mutex
	held   bool // it holds a place
	closed bool
}

func (c *counted) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 && !c.heard {
		c.heard = true
		c.Conn.SetDeadline(c.shakeBy)
	}
	return n, err
}

// hold takes a place among the open connections; false if none is free.
func (c *counted) hold() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	select {
	case c.x.open <- struct{}{}:
		c.held = true
		return true
	default:
		return false
	}
}

func (c *counted) Close() error {
	err := c.Conn.Close()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held && !c.closed {
		<-c.x.open
	}
	c.closed = true
	return err
}
