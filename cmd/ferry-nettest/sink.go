// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"time"

	"github.com/ferry-hv/ferry/net/mgmt"
)

// bufSize is the read and write size of both ends.
const bufSize = 256 << 10

// serve runs the sink: every connection's bytes are counted and, at its
// end, the count is sent back (8 bytes, big-endian); a reporter prints the
// throughput of every second in which bytes arrived.
func serve(n *mgmt.Net, o options) error {
	l, err := n.Listen(port, 0)
	if err != nil {
		return err
	}
	logf("server: listening on %v:%d", n.Addr().Addr(), port)
	var total atomic.Int64
	go report(n, "server", &total)
	go func() { // say so if no peer shows up
		time.Sleep(30 * time.Second)
		if total.Load() == 0 {
			logf("server: nothing received after 30 s; %s", describe(n.Stats()))
		}
	}()
	done := make(chan error)
	started := 0
	for o.conns == 0 || started < o.conns {
		c, err := l.Accept()
		if err != nil {
			return err
		}
		started++
		go func() { done <- sink(c, &total) }()
		if o.conns != 0 && started == o.conns {
			break
		}
	}
	for i := 0; i < started; i++ {
		if err := <-done; err != nil {
			logf("server: %v", err)
		}
	}
	time.Sleep(100 * time.Millisecond) // let the last ACKs and FIN go out
	logf("server: done; %s", describe(n.Stats()))
	return nil
}

func sink(c net.Conn, total *atomic.Int64) error {
	defer c.Close()
	start := time.Now()
	buf := make([]byte, bufSize)
	var got int64
	for {
		k, err := c.Read(buf)
		got += int64(k)
		total.Add(int64(k))
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("connection from %v: after %d bytes: %w", c.RemoteAddr(), got, err)
		}
	}
	d := time.Since(start)
	logf("server: %v sent %d bytes in %v: %s", c.RemoteAddr(), got, d.Round(time.Millisecond), mibps(got, d))
	var ack [8]byte
	binary.BigEndian.PutUint64(ack[:], uint64(got))
	_, err := c.Write(ack[:])
	return err
}

// report prints, every second in which bytes moved, the rate and the TCP
// recovery counters.
func report(n *mgmt.Net, role string, total *atomic.Int64) {
	last := int64(0)
	t := time.NewTicker(time.Second)
	reported := false
	for range t.C {
		if err := n.Err(); err != nil && !reported {
			logf("%s: NIC stopped: %v; %s", role, err, describe(n.Stats()))
			reported = true
		}
		now := total.Load()
		if now != last {
			s := n.Stats()
			logf("%s: %s, total %d MiB, retransmits %d (timeouts %d)", role, mibps(now-last, time.Second), now>>20,
				s.TCPRetransmits, s.TCPTimeouts)
		}
		last = now
	}
}

// client sends o.mib MiB to the peer's sink and prints the throughput: from
// the first byte written to the sink's count received back.
func client(n *mgmt.Net, o options) error {
	addr := fmt.Sprintf("%v:%d", o.peer, port)
	var c net.Conn
	var err error
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		c, err = n.Dial(ctx, addr)
		cancel()
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		return fmt.Errorf("%w; %s", err, describe(n.Stats()))
	}
	defer c.Close()
	logf("client: connected to %s", addr)
	buf := make([]byte, bufSize)
	for i := range buf {
		buf[i] = byte(i)
	}
	size := int64(o.mib) << 20
	var sent atomic.Int64
	go report(n, "client", &sent)
	start := time.Now()
	for sent.Load() < size {
		k, err := c.Write(buf[:min(int64(len(buf)), size-sent.Load())])
		sent.Add(int64(k))
		if err != nil {
			return fmt.Errorf("after %d bytes: %w", sent.Load(), err)
		}
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	var ack [8]byte
	if _, err := io.ReadFull(c, ack[:]); err != nil {
		return fmt.Errorf("reading the sink's count: %w", err)
	}
	d := time.Since(start)
	if got := int64(binary.BigEndian.Uint64(ack[:])); got != size {
		return fmt.Errorf("sink counted %d bytes, sent %d", got, size)
	}
	logf("client: RESULT mtu=%d mib=%d seconds=%.3f throughput: %s", n.MTU(), o.mib, d.Seconds(), mibps(size, d))
	logf("client: %s", describe(n.Stats()))
	return nil
}
