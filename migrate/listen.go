// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"net"
	"sync"
)

// ServeConfig bounds Serve.
type ServeConfig struct {
	MaxConns   int // connections served at once (at least 1)
	MaxPerPeer int // of them from one peer (at least 1)
	// Peer names a connection's peer (its certificate's name).
	Peer func(net.Conn) string
	// Log, if set, is told about each connection refused.
	Log func(format string, args ...any)
}

// Serve is a board's migration listener: it accepts connections on l and
// serves each in its own goroutine with serve (Receive, in Ferry), at
// most MaxConns at once and MaxPerPeer from one peer; a connection beyond
// either is closed at once. So a board key that holds connections open
// (each until Receive's step timeout) holds only its own share, and a
// Commit resent or a Query from the other board of a migration is served
// at once, beside the stream if need be. The Ledger orders what the
// connections ask: one migration at a time, each verdict once. Serve
// returns Accept's error.
func Serve(l net.Listener, c ServeConfig, serve func(conn net.Conn, peer string)) error {
	c.MaxConns, c.MaxPerPeer = max(c.MaxConns, 1), max(c.MaxPerPeer, 1)
	var mu sync.Mutex
	n, per := 0, map[string]int{}
	for {
		conn, err := l.Accept()
		if err != nil {
			return err
		}
		peer := c.Peer(conn)
		mu.Lock()
		ok := n < c.MaxConns && per[peer] < c.MaxPerPeer
		if ok {
			n++
			per[peer]++
		}
		held := per[peer]
		mu.Unlock()
		if !ok {
			if c.Log != nil {
				c.Log("%s (%s): refused: %d connections served, %d of them its", peer, conn.RemoteAddr(), c.MaxConns, held)
			}
			conn.Close()
			continue
		}
		go func() {
			defer func() {
				conn.Close()
				mu.Lock()
				n--
				if per[peer]--; per[peer] == 0 {
					delete(per, peer)
				}
				mu.Unlock()
			}()
			serve(conn, peer)
		}()
	}
}
