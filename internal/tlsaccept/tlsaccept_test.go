// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package tlsaccept

import (
	"crypto/rand"
	"crypto/tls"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/pki"
)

func bundles(t *testing.T) (board, ctl *pki.Bundle) {
	t.Helper()
	k, err := pki.Generate("ca", []pki.Node{{Name: "board"}, {Name: "ctl"}}, pki.NewWindow(time.Now(), time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var bs []*pki.Bundle
	for _, b := range k.Bundles {
		x, err := pki.LoadBundle(b)
		if err != nil {
			t.Fatal(err)
		}
		bs = append(bs, x)
	}
	return bs[0], bs[1]
}

func listen(t *testing.T, c Config) *Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Skip("no loopback:", err)
	}
	x := New(l, c)
	t.Cleanup(func() { x.Close() })
	return x
}

// dialTLS connects and completes a handshake as ctl.
func dialTLS(t *testing.T, addr string, ctl *pki.Bundle) (*tls.Conn, error) {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	raw.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(raw, ctl.ClientConfig(pki.Options{}))
	if err := c.Handshake(); err != nil {
		raw.Close()
		return nil, err
	}
	return c, nil
}

// Silent connections -- as many as the listener allows handshakes, and
// more -- neither block a real peer nor stay open past the handshake
// timeout; junk is closed as soon as TLS sees it. (All peers here share
// 127.0.0.1, so MaxPerPeer is raised to let the flood in.)
func TestSilentAndJunkPeersDoNotBlock(t *testing.T) {
	board, ctl := bundles(t)
	var mu sync.Mutex
	var logs []string
	x := listen(t, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: 500 * time.Millisecond, MaxHandshakes: 4, MaxConns: 8, MaxPerPeer: 4,
		Log: func(f string, a ...any) { mu.Lock(); logs = append(logs, f); mu.Unlock() }})
	addr := x.Addr().String()

	var silent []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	junk, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	junk.Write(make([]byte, 1<<20))

	// The silent ones time out; the real peer then gets through.
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := x.Accept()
		if err == nil {
			accepted <- c
		}
	}()
	start := time.Now()
	var c *tls.Conn
	for time.Since(start) < 10*time.Second {
		if c, err = dialTLS(t, addr, ctl); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if c == nil {
		t.Fatalf("a real peer could not connect past 20 silent ones: %v", err)
	}
	defer c.Close()
	select {
	case s := <-accepted:
		if cs := s.(*tls.Conn).ConnectionState(); !cs.HandshakeComplete || pki.PeerName(cs) != "ctl" {
			t.Fatalf("accepted a connection without its handshake: %+v", cs)
		}
		s.Close()
	case <-time.After(5 * time.Second):
		t.Fatal("the real peer was never accepted")
	}
	// Every silent connection was closed by the listener.
	for _, s := range silent {
		s.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, s); err != nil {
			t.Fatalf("a silent connection was still open after 5 s: %v", err)
		}
		s.Close()
	}
	junk.Close()
	mu.Lock()
	defer mu.Unlock()
	if len(logs) == 0 {
		t.Fatal("nothing was logged about refused or failed peers")
	}
}

// Connections beyond MaxConns are closed at once, and a closed one frees
// its place.
func TestConnectionCap(t *testing.T) {
	board, ctl := bundles(t)
	x := listen(t, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: 2 * time.Second, MaxHandshakes: 2, MaxConns: 2, MaxPerPeer: 2})
	addr := x.Addr().String()
	var held []net.Conn
	for range 2 {
		c, err := dialTLS(t, addr, ctl)
		if err != nil {
			t.Fatal(err)
		}
		s, err := x.Accept()
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, c, s)
	}
	if c, err := dialTLS(t, addr, ctl); err == nil {
		c.Close()
		t.Fatal("a third connection got through a cap of two")
	}
	held[1].Close() // the listener's side of the first: its place is free
	held[0].Close()
	var err error
	for range 50 {
		var c *tls.Conn
		if c, err = dialTLS(t, addr, ctl); err == nil {
			c.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no connection after one closed: %v", err)
}

// A handshaken connection nobody accepts is closed after the timeout, and
// Accept after Close says the listener is closed.
func TestNotAcceptedAndClosed(t *testing.T) {
	board, ctl := bundles(t)
	x := listen(t, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: 300 * time.Millisecond, MaxHandshakes: 1, MaxConns: 1})
	c, err := dialTLS(t, x.Addr().String(), ctl)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read data from a connection nobody accepted")
	}
	x.Close()
	if _, err := x.Accept(); err == nil {
		t.Fatal("Accept after Close succeeded")
	}
}

// One address cannot take every handshake slot: with two silent
// connections from 127.0.0.1 (its share of 8 slots), a third from it is
// closed at once; when one of the two goes, the address may handshake
// again. (Sockets in tests are 127.0.0.1's; the flood tests take other
// addresses over a fake listener, TestHostileConnections on the emulated
// link.)
func TestPerPeerCap(t *testing.T) {
	board, ctl := bundles(t)
	x := listen(t, Config{TLS: board.ServerConfig(pki.Options{}), HandshakeTimeout: 5 * time.Second, MaxHandshakes: 8, MaxConns: 8, MaxPerPeer: 2})
	addr := x.Addr().String()
	var silent []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		silent = append(silent, c)
	}
	defer silent[1].Close()
	time.Sleep(100 * time.Millisecond)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || strings.Contains(err.Error(), "timeout") {
		t.Fatalf("a third silent connection from one address was not closed at once: %v", err)
	}
	c.Close()
	silent[0].Close()
	go x.Accept()
	for range 50 {
		var tc *tls.Conn
		if tc, err = dialTLS(t, addr, ctl); err == nil {
			tc.Close()
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("the address could not handshake after one of its connections went: %v", err)
}
