// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"
)

// listener is a migration listener's socket in a test: dial hands it a
// pipe from the peer named.
type listener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

func newListener() *listener {
	return &listener{conns: make(chan net.Conn, 16), done: make(chan struct{})}
}

func (l *listener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *listener) Close() error   { l.once.Do(func() { close(l.done) }); return nil }
func (l *listener) Addr() net.Addr { return &net.TCPAddr{} }

func (l *listener) dial(peer string) net.Conn {
	x, y := net.Pipe()
	l.conns <- named{y, peer}
	return x
}

type named struct {
	net.Conn
	peer string
}

func peerOf(c net.Conn) string { return c.(named).peer }

// serveBoard serves b's ledger on l, as Ferry's listener does, with a
// step timeout of timeout.
func serveBoard(b *board, l *listener, c ServeConfig, timeout time.Duration) {
	c.Peer = peerOf
	go Serve(l, c, func(conn net.Conn, peer string) {
		Receive(context.Background(), conn, &fakeSink{fp: smallFingerprint()}, WithLedger(b.l), WithPeer(peer), WithTimeout(timeout))
	})
}

// asks sends rec as peer and reads the first record of the answer, or
// fails after within.
func asks(t *testing.T, l *listener, peer string, typ RecordType, payload []byte, within time.Duration) Record {
	t.Helper()
	c := l.dial(peer)
	defer c.Close()
	c.SetDeadline(time.Now().Add(within))
	if err := WriteRecord(c, Record{typ, typ.Version(), payload}); err != nil {
		t.Fatalf("%s from %s: %v", typ, peer, err)
	}
	r, err := ReadRecord(c, nil)
	if err != nil {
		t.Fatalf("%s from %s: no answer within %v: %v", typ, peer, within, err)
	}
	return r
}

// Another board's key holds connections to the listener open, silent, for
// as long as the step timeout lets it: the real peer's Commit (resent
// over a new connection) and Query are answered at once all the same,
// and the silent board gets no more than its share.
func TestServeWhileHeld(t *testing.T) {
	_, b := pair(t, smallFingerprint())
	l := newListener()
	defer l.Close()
	serveBoard(b, l, ServeConfig{MaxConns: 8, MaxPerPeer: 3}, 10*time.Second)
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 3 {
		held = append(held, l.dial("c"))
	}
	held = append(held, l.dial("a")) // the peer's own stale connection
	time.Sleep(50 * time.Millisecond)

	id := NewID()
	start := time.Now()
	if r := asks(t, l, "a", TypeCommit, encodeID(id), time.Second); r.Type != TypeOutcome {
		t.Fatalf("the Commit was answered with %v", r.Type)
	}
	if r := asks(t, l, "a", TypeQuery, encodeID(id), time.Second); r.Type != TypeOutcome {
		t.Fatalf("the Query was answered with %v", r.Type)
	}
	t.Logf("Commit and Query answered in %v with 4 connections held silent", time.Since(start))

	// A fourth from the silent board is closed at once.
	c := l.dial("c")
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil || isTimeout(err) {
		t.Fatalf("a fourth connection from one board was served: %v", err)
	}
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

// Connections past MaxConns are closed at once, whoever the peers; once
// served ones close, the listener serves again.
func TestServeTotalBound(t *testing.T) {
	_, b := pair(t, smallFingerprint())
	l := newListener()
	defer l.Close()
	serveBoard(b, l, ServeConfig{MaxConns: 4, MaxPerPeer: 2}, 10*time.Second)
	var held []net.Conn
	for _, p := range []string{"c", "d", "e"} {
		for range 2 {
			held = append(held, l.dial(p))
		}
	}
	time.Sleep(50 * time.Millisecond)
	served := 0
	for _, c := range held {
		c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); isTimeout(err) {
			served++ // still open: being served
		}
	}
	if served != 4 {
		t.Fatalf("%d of 6 connections served, want 4", served)
	}
	for _, c := range held {
		c.Close()
	}
	time.Sleep(50 * time.Millisecond)
	if r := asks(t, l, "a", TypeQuery, encodeID(NewID()), time.Second); r.Type != TypeOutcome {
		t.Fatalf("the Query was answered with %v", r.Type)
	}
}
