// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"time"
)

// FastestSuite measures each of StreamSuites on this machine -- a TLS 1.2
// session with itself over an in-memory pipe, n bytes one way -- and
// returns the fastest, with every suite's throughput in bytes per second.
// The stream's cipher is then chosen by what the CPU does, not by what its
// feature registers say: under emulation the ARMv8 AES instructions are
// slower than ChaCha20 in software, on a real board they are much faster.
func (b *Bundle) FastestSuite(o Options, n int) (uint16, map[uint16]float64, error) {
	rates := map[uint16]float64{}
	var best uint16
	for _, suite := range StreamSuites {
		r, err := b.measure(o, suite, n)
		if err != nil {
			return 0, rates, fmt.Errorf("measuring %s: %w", tls.CipherSuiteName(suite), err)
		}
		rates[suite] = r
		if best == 0 || r > rates[best] {
			best = suite
		}
	}
	return best, rates, nil
}

func (b *Bundle) measure(o Options, suite uint16, n int) (float64, error) {
	a, z := net.Pipe()
	defer a.Close()
	defer z.Close()
	deadline := time.Now().Add(time.Minute)
	a.SetDeadline(deadline)
	z.SetDeadline(deadline)
	co := o
	co.Suite = suite
	c := tls.Client(a, b.ClientConfig(co))
	s := tls.Server(z, b.ServerConfig(co))
	got := make(chan error, 1)
	go func() {
		if err := s.Handshake(); err != nil {
			got <- err
			return
		}
		_, err := io.CopyN(io.Discard, s, int64(n))
		got <- err
	}()
	if err := c.Handshake(); err != nil {
		return 0, err
	}
	if c.ConnectionState().CipherSuite != suite {
		return 0, fmt.Errorf("negotiated %s", tls.CipherSuiteName(c.ConnectionState().CipherSuite))
	}
	buf := make([]byte, 64<<10)
	start := time.Now()
	for sent := 0; sent < n; sent += len(buf) {
		if _, err := c.Write(buf[:min(len(buf), n-sent)]); err != nil {
			return 0, err
		}
	}
	if err := <-got; err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}
