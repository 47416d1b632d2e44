// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"io"
	"math/big"
	"net"
	"time"
)

// tlsBench runs a TLS 1.3 handshake between a crypto/tls client and server
// in this image, over an in-memory pipe, and returns the cipher suite they
// agree on and the rate at which the client then sends application data
// to the server (what a migration stream pays for TLS, without the
// network). Both offer the default suites; crypto/tls puts AES-GCM first
// only when it has "AES-GCM hardware support" (on arm64: internal/cpu's
// HasAES and HasPMULL), and ChaCha20-Poly1305 first otherwise. So the
// suite shows what internal/cpu detected, without reaching into it.
func tlsBench(buf []byte) (suite, rate string, err error) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "nettest"},
		DNSNames:     []string{"nettest"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return "", "", err
	}
	cert := tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
	c, s := net.Pipe()
	defer c.Close()
	defer s.Close()
	srv := tls.Server(s, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	done := make(chan error, 1)
	go func() { done <- srv.Handshake() }()
	// The peer is this image's own server: nothing to verify.
	cli := tls.Client(c, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := cli.Handshake(); err != nil {
		return "", "", fmt.Errorf("client: %w", err)
	}
	if err := <-done; err != nil {
		return "", "", fmt.Errorf("server: %w", err)
	}
	suite = tls.CipherSuiteName(cli.ConnectionState().CipherSuite)
	go func() { _, err := io.Copy(io.Discard, srv); done <- err }()
	n, start := int64(0), time.Now()
	for time.Since(start) < benchTime {
		if _, err := cli.Write(buf); err != nil {
			return suite, "", fmt.Errorf("client write: %w", err)
		}
		n += int64(len(buf))
	}
	rate = mibps(n, time.Since(start))
	cli.Close()
	return suite, rate, nil
}
