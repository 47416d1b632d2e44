// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package l2switch is the host side of Ferry's management link: a small
// learning Ethernet switch whose ports are stream connections carrying
// QEMU's socket/stream netdev framing (a 4-byte big-endian length, then the
// Ethernet frame). QEMU boards (-netdev socket,connect=127.0.0.1:PORT),
// ferryctl's userspace netstack (package hostnet) and tests all join it the
// same way.
//
// It learns source MACs per port, forwards unicast to the learned port and
// floods broadcast, multicast and unknown unicast to every other port. Each
// port has a bounded output queue: frames from one port leave in the order
// they came in, and a port that does not read has frames to it dropped and
// counted instead of stalling the others.
//
// It is not a router, a bridge to the host's interfaces, or a filter: it
// only ever listens on loopback, and the addresses on the emulated link
// (10.77.0.0/24) exist only inside the netstacks attached to it.
package l2switch

import (
	"bufio"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"sync"
	"time"
)

// Config tunes a Switch. The zero value is usable.
type Config struct {
	// QueueLen is the number of frames queued for output per port; when a
	// port's queue is full, frames to it are dropped and counted. Default
	// DefaultQueueLen.
	QueueLen int
	// MaxFrame is the largest frame accepted, in bytes; a port announcing a
	// longer one is closed. Default (and upper bound) MaxFrame.
	MaxFrame int
	// Logf receives port open/close events and errors. Default log.Printf.
	Logf func(format string, args ...any)
}

// DefaultQueueLen is the per-port output queue length when Config.QueueLen
// is zero: enough for a TCP window of full-size frames.
const DefaultQueueLen = 1024

// keepClosed is how many closed ports' final statistics are kept.
const keepClosed = 64

// Switch is a learning Ethernet switch. Its methods are safe for concurrent
// use.
type Switch struct {
	cfg Config

	mu        sync.Mutex
	closed    bool
	nextID    int
	ports     map[int]*port
	macs      map[MAC]*port
	gone      []PortStats // final statistics of closed ports, oldest first
	listeners map[net.Listener]struct{}
	flooded   uint64 // frames flooded (group or unknown destination)
	filtered  uint64 // unicast frames whose destination is on the port they came in on

	wg sync.WaitGroup // port goroutines
}

// New returns a switch with no ports.
func New(cfg Config) *Switch {
	if cfg.QueueLen <= 0 {
		cfg.QueueLen = DefaultQueueLen
	}
	if cfg.MaxFrame <= 0 || cfg.MaxFrame > MaxFrame {
		cfg.MaxFrame = MaxFrame
	}
	if cfg.Logf == nil {
		cfg.Logf = log.Printf
	}
	return &Switch{
		cfg:       cfg,
		ports:     make(map[int]*port),
		macs:      make(map[MAC]*port),
		listeners: make(map[net.Listener]struct{}),
	}
}

// ErrClosed is returned by Attach after Close.
var ErrClosed = errors.New("l2switch: switch closed")

// CheckLoopback returns an error unless addr ("host:port") has 127.0.0.1
// as its host: the management link must never be reachable from outside
// this machine, and the project's host sockets use that one address only
// (not another loopback address, not ::1).
func CheckLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("address %q: %v", addr, err)
	}
	if ip, err := netip.ParseAddr(host); err != nil || ip != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
		return fmt.Errorf("address %q: host %q is not 127.0.0.1", addr, host)
	}
	return nil
}

// Serve accepts connections on l and attaches each as a new port, until l
// fails or the switch is closed (then it returns nil). A TCP listener must
// be on 127.0.0.1 (CheckLoopback).
func (s *Switch) Serve(l net.Listener) error {
	if err := s.listen(l); err != nil {
		return err
	}
	return s.accept(l)
}

// listen makes l one of the switch's listeners, which Close closes.
func (s *Switch) listen(l net.Listener) error {
	if a, ok := l.Addr().(*net.TCPAddr); ok {
		if err := CheckLoopback(a.String()); err != nil {
			return fmt.Errorf("l2switch: refusing to serve: %v", err)
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	s.listeners[l] = struct{}{}
	return nil
}

// accept is Serve's loop on l, one of the switch's listeners.
func (s *Switch) accept(l net.Listener) error {
	defer func() {
		s.mu.Lock()
		delete(s.listeners, l)
		s.mu.Unlock()
	}()

	backoff := 5 * time.Millisecond
	for {
		c, err := l.Accept()
		if err != nil {
			s.mu.Lock()
			closed := s.closed
			s.mu.Unlock()
			if closed {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(backoff)
				backoff = min(2*backoff, time.Second)
				continue
			}
			return fmt.Errorf("l2switch: accept on %v: %w", l.Addr(), err)
		}
		backoff = 5 * time.Millisecond
		if _, err := s.Attach(c); err != nil {
			c.Close()
			return nil
		}
	}
}

// Attach makes c a new port and returns its number. The switch owns c from
// then on and closes it when the port or the switch closes.
func (s *Switch) Attach(c net.Conn) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, ErrClosed
	}
	s.nextID++
	p := &port{
		sw:     s,
		id:     s.nextID,
		conn:   c,
		remote: c.RemoteAddr().String(),
		opened: time.Now(),
		out:    make(chan []byte, s.cfg.QueueLen),
		quit:   make(chan struct{}),
	}
	s.ports[p.id] = p
	s.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
	s.cfg.Logf("l2switch: port %d open (%s)", p.id, p.remote)
	return p.id, nil
}

// Close stops every listener given to Serve, closes every port and waits
// for their goroutines to end.
func (s *Switch) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for l := range s.listeners {
		l.Close()
	}
	ports := make([]*port, 0, len(s.ports))
	for _, p := range s.ports {
		ports = append(ports, p)
	}
	s.mu.Unlock()
	for _, p := range ports {
		p.close(errors.New("switch closed"))
	}
	s.wg.Wait()
	return nil
}

// forward learns the source of frame (at least MinFrame bytes, from port
// in) and queues it to the port(s) it goes to.
func (s *Switch) forward(in *port, frame []byte) {
	src, dst := Src(frame), Dst(frame)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, open := s.ports[in.id]; !open {
		return // closed while this frame was being read
	}
	if in.down {
		in.cut.Add(1)
		return
	}
	if !src.Group() {
		if old, ok := s.macs[src]; !ok || old != in {
			if ok {
				s.cfg.Logf("l2switch: %v moved from port %d to port %d", src, old.id, in.id)
			}
			s.macs[src] = in
		}
	}
	if !dst.Group() {
		if out, ok := s.macs[dst]; ok {
			switch {
			case out == in:
				s.filtered++
			case out.down:
				out.cut.Add(1)
			default:
				out.enqueue(frame)
			}
			return
		}
	}
	s.flooded++
	for _, out := range s.ports {
		if out != in && !out.down {
			out.enqueue(frame)
		}
	}
}

// SetLink takes the link of a port down (every frame from or to it is
// dropped, as if its cable were pulled; the peer's connection stays open)
// or up again. The port is the one a MAC address was learned on (Lookup).
func (s *Switch) SetLink(port int, up bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.ports[port]
	if !ok {
		return fmt.Errorf("l2switch: no port %d", port)
	}
	p.down = !up
	return nil
}

// remove takes p out of the port and MAC tables and keeps its final
// statistics.
func (s *Switch) remove(p *port, reason error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.ports[p.id]; !ok {
		return
	}
	st := p.stats()
	for mac, q := range s.macs {
		if q == p {
			st.MACs = append(st.MACs, mac.String())
			delete(s.macs, mac)
		}
	}
	delete(s.ports, p.id)
	st.Closed = reason.Error()
	s.gone = append(s.gone, st)
	if len(s.gone) > keepClosed {
		s.gone = s.gone[len(s.gone)-keepClosed:]
	}
}

// Lookup returns the port a MAC address was last seen on.
func (s *Switch) Lookup(m MAC) (port int, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.macs[m]
	if !ok {
		return 0, false
	}
	return p.id, true
}

// newBufferedWriter returns the writer a port's output goes through.
func newBufferedWriter(c net.Conn) *bufio.Writer { return bufio.NewWriterSize(c, 2*MaxFrame) }

// Start runs a quiet switch (no log) on a fresh port of 127.0.0.1 and
// returns it with its address; Close stops it. For the project's own
// launchers and tests, which need a private link.
func Start() (*Switch, string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	sw := New(Config{Logf: func(string, ...any) {}})
	// Its listener before it returns: a Close right after it closes it.
	if err := sw.listen(ln); err != nil {
		ln.Close()
		return nil, "", err
	}
	go sw.accept(ln)
	return sw, ln.Addr().String(), nil
}
