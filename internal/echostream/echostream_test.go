// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package echostream

import (
	"net"
	"strings"
	"testing"
	"time"
)

// echo serves one connection of l as the guest's service does, through
// f (which may spoil what it sends back).
func echo(l net.Listener, f func([]byte)) {
	c, err := l.Accept()
	if err != nil {
		return
	}
	defer c.Close()
	buf := make([]byte, 8192)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			f(buf[:n])
			c.Write(buf[:n])
		}
		if err != nil {
			return
		}
	}
}

func start(t *testing.T, f func([]byte)) *Stream {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go echo(l, f)
	c, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	return Start(c, 1<<20)
}

func TestStreamEchoed(t *testing.T) {
	s := start(t, func([]byte) {})
	for s.Got() < 64<<10 {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Finish(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	if s.Got() != s.Sent() || s.Sent()%Chunk != 0 {
		t.Fatalf("sent %d, got %d", s.Sent(), s.Got())
	}
}

// One byte changed on the way back is found, with its place.
func TestStreamSpoiled(t *testing.T) {
	n := 0
	s := start(t, func(b []byte) {
		if n += len(b); n > 20000 && n-len(b) <= 20000 {
			b[0]++
		}
	})
	for deadline := time.Now().Add(5 * time.Second); s.Err() == nil && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Finish(time.Second); err == nil || !strings.Contains(err.Error(), "the echo differs at byte") {
		t.Fatalf("Finish = %v", err)
	}
}
