// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package tlsaccept

import (
	"net"
	"net/netip"
	"sync"
	"time"
)

// Known is the set of addresses whose handshakes get the slots a Listener
// keeps for known peers: the address each peer last completed a handshake
// from (by its certificate's name: one address per name, the
// maxLearned names heard from most recently), and addresses the board was
// told of (Tell: the other board of a migration), until their time runs
// out. One Known may serve several listeners: a peer heard on one is known
// on all.
//
// An address is not an identity: a station on the link that takes a
// known peer's address gets that peer's slots (and could take its
// traffic altogether). What Known guarantees is that stations using
// addresses of their own, however many, cannot take them.
type Known struct {
	mu      sync.Mutex
	learned map[string]learned // by peer name
	told    map[netip.Addr]time.Time
	now     func() time.Time
}

type learned struct {
	addr netip.Addr
	at   time.Time
}

// Bounds of a Known.
const (
	maxLearned = 32 // names
	maxTold    = 8  // addresses
)

// NewKnown returns an empty set.
func NewKnown() *Known {
	return &Known{learned: map[string]learned{}, told: map[netip.Addr]time.Time{}, now: time.Now}
}

// Learn records that the peer named name completed a handshake from a;
// it replaces the name's earlier address, and the name heard from least
// recently goes when there are too many.
func (k *Known) Learn(name string, a netip.Addr) {
	if name == "" || !a.IsValid() {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.learned[name]; !ok && len(k.learned) >= maxLearned {
		var oldest string
		var at time.Time
		for n, e := range k.learned {
			if oldest == "" || e.at.Before(at) {
				oldest, at = n, e.at
			}
		}
		delete(k.learned, oldest)
	}
	k.learned[name] = learned{addr: a.Unmap(), at: k.now()}
}

// Tell makes a known until the time given (a later Tell of the same
// address may extend it); the address that expires first goes when there
// are too many.
func (k *Known) Tell(a netip.Addr, until time.Time) {
	if !a.IsValid() {
		return
	}
	a = a.Unmap()
	k.mu.Lock()
	defer k.mu.Unlock()
	now := k.now()
	for t, u := range k.told {
		if !u.After(now) {
			delete(k.told, t)
		}
	}
	if u, ok := k.told[a]; ok {
		k.told[a] = later(u, until)
		return
	}
	if len(k.told) >= maxTold {
		var first netip.Addr
		var at time.Time
		for t, u := range k.told {
			if !first.IsValid() || u.Before(at) {
				first, at = t, u
			}
		}
		delete(k.told, first)
	}
	k.told[a] = until
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Has reports whether a is known.
func (k *Known) Has(a netip.Addr) bool {
	if k == nil || !a.IsValid() {
		return false
	}
	a = a.Unmap()
	k.mu.Lock()
	defer k.mu.Unlock()
	if u, ok := k.told[a]; ok && u.After(k.now()) {
		return true
	}
	for _, e := range k.learned {
		if e.addr == a {
			return true
		}
	}
	return false
}

// addrOf is the IP address of a connection's remote end (invalid if it
// has none).
func addrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		ip, _ := netip.AddrFromSlice(t.IP)
		return ip.Unmap()
	}
	if a == nil {
		return netip.Addr{}
	}
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}
