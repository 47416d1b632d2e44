// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package echostream is a client's TCP stream through a TCP echo service
// (the test guest's, guest/echo): it sends numbered bytes at a steady
// rate, checks every byte that comes back -- a byte lost, repeated or
// reordered shows -- and notes the longest time nothing came back. The
// demo (cmd/ferry-demo) and the system tests keep one open across a
// migration.
package echostream

import (
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Chunk is what the stream writes at a time.
const Chunk = 4096

// ioTimeout bounds each read and write: a stream silent that long is
// broken.
const ioTimeout = time.Minute

// Byte is the stream's byte i.
func Byte(i int64) byte { return byte(i * 7 % 251) }

// Stream is one stream over c.
type Stream struct {
	c     net.Conn
	sent  atomic.Int64
	got   atomic.Int64
	stop  atomic.Bool
	wrote chan struct{} // closed when the writer has stopped
	read  chan struct{} // closed when the reader has stopped

	mu         sync.Mutex
	err        error
	last       time.Time
	stall      time.Duration
	stallUntil time.Time
}

// Start starts a stream over c sending rate bytes a second.
func Start(c net.Conn, rate int) *Stream {
	s := &Stream{c: c, last: time.Now(), wrote: make(chan struct{}), read: make(chan struct{})}
	go s.write(rate)
	go s.receive()
	return s
}

// Sent and Got are the bytes sent and come back so far.
func (s *Stream) Sent() int64 { return s.sent.Load() }
func (s *Stream) Got() int64  { return s.got.Load() }

// Err is why the stream broke, or nil.
func (s *Stream) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Stall is the longest time nothing came back, and when it ended.
func (s *Stream) Stall() (time.Duration, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stall, s.stallUntil
}

func (s *Stream) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = err
	}
}

func (s *Stream) write(rate int) {
	defer close(s.wrote)
	t := time.NewTicker(time.Second * Chunk / time.Duration(rate))
	defer t.Stop()
	buf := make([]byte, Chunk)
	for range t.C {
		if s.stop.Load() {
			return
		}
		from := s.sent.Load()
		for i := range buf {
			buf[i] = Byte(from + int64(i))
		}
		s.c.SetWriteDeadline(time.Now().Add(ioTimeout))
		if _, err := s.c.Write(buf); err != nil {
			s.fail(fmt.Errorf("sending byte %d: %w", from, err))
			return
		}
		s.sent.Add(Chunk)
	}
}

func (s *Stream) receive() {
	defer close(s.read)
	buf := make([]byte, 64<<10)
	for {
		s.c.SetReadDeadline(time.Now().Add(ioTimeout))
		n, err := s.c.Read(buf)
		now := time.Now()
		from := s.got.Load()
		for i := range n {
			if buf[i] != Byte(from+int64(i)) {
				s.fail(fmt.Errorf("the echo differs at byte %d: lost, repeated or reordered", from+int64(i)))
				return
			}
		}
		if n > 0 {
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
				s.fail(fmt.Errorf("receiving byte %d: %w", s.got.Load(), err))
			}
			return
		}
	}
}

// Finish stops sending, waits up to within for every byte sent to come
// back, closes the connection and returns what broke the stream, if
// anything.
func (s *Stream) Finish(within time.Duration) error {
	s.stop.Store(true)
	<-s.wrote // at its next tick, or at once if it failed
	for deadline := time.Now().Add(within); s.got.Load() != s.sent.Load(); time.Sleep(20 * time.Millisecond) {
		select {
		case <-s.read:
			deadline = time.Time{} // the reader stopped: its error says why
		default:
		}
		if time.Now().After(deadline) {
			s.fail(fmt.Errorf("the last bytes did not come back: sent %d, %d echoed", s.sent.Load(), s.got.Load()))
			break
		}
	}
	s.c.Close() // ends the reader
	<-s.read
	return s.Err()
}
