// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"time"
)

// Options adjust the TLS configurations. The zero value is usable.
type Options struct {
	// Time is the clock peer certificates are checked against; nil means
	// time.Now. A board without a real-time clock sets its own.
	Time func() time.Time
	// PeerName, if set, is a DNS name or IP address the peer's certificate
	// must carry as a SAN. Left empty, any certificate signed by the CA is
	// accepted (boards are dialed by address and their certificates need
	// not list it).
	PeerName string
	// PeerRole, if set, is the role (RoleBoard, RoleOperator) the peer's
	// certificate must name.
	PeerRole string
	// Suite, if set, makes a client speak TLS 1.2 with this one suite (one
	// of StreamSuites) rather than TLS 1.3, whose AEAD Go picks by the
	// CPU's features alone; a server with Suite set accepts every one of
	// StreamSuites as well as TLS 1.3. See FastestSuite.
	Suite uint16
}

// StreamSuites are the TLS 1.2 suites a migration stream may use: ECDHE
// key exchange (forward secret) with ECDSA certificates and an AEAD, as
// strong as TLS 1.3's own choices; which one is fastest depends on the
// CPU (AES-GCM with the ARMv8 AES instructions, ChaCha20-Poly1305
// without, or under emulation).
var StreamSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
}

func (o Options) now() time.Time {
	if o.Time != nil {
		return o.Time()
	}
	return time.Now()
}

// certificate is the node's certificate and key for crypto/tls.
func (b *Bundle) certificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{b.Cert.Raw}, PrivateKey: b.Key, Leaf: b.Cert}
}

func (b *Bundle) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(b.CA)
	return p
}

// ServerConfig returns a TLS 1.3 server configuration that presents the
// node's certificate and requires every client to present a certificate
// signed by the bundle's CA (and nothing else), checked at o.Time.
func (b *Bundle) ServerConfig(o Options) *tls.Config {
	min := uint16(tls.VersionTLS13)
	var suites []uint16
	if o.Suite != 0 {
		min, suites = tls.VersionTLS12, StreamSuites
	}
	return &tls.Config{
		MinVersion:   min,
		CipherSuites: suites,
		Certificates: []tls.Certificate{b.certificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    b.pool(),
		Time:         o.Time,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := b.checkRevoked(cs.PeerCertificates); err != nil {
				return err
			}
			if err := checkPeerRole(cs, o.PeerRole); err != nil {
				return err
			}
			return checkPeerName(cs, o.PeerName)
		},
	}
}

// ClientConfig returns a TLS 1.3 client configuration that always presents
// the node's certificate and accepts only a server certificate signed by
// the bundle's CA, checked at o.Time (and carrying o.PeerName, if set).
//
// crypto/tls's own server verification is replaced (InsecureSkipVerify) by
// an equivalent one in VerifyConnection, because boards are dialed by an IP
// address their certificates need not carry; the chain, validity period
// and server-auth usage are still checked, against the bundle's CA only.
func (b *Bundle) ClientConfig(o Options) *tls.Config {
	cert := b.certificate()
	roots := b.pool()
	min, max := uint16(tls.VersionTLS13), uint16(0)
	var suites []uint16
	if o.Suite != 0 {
		min, max, suites = tls.VersionTLS12, tls.VersionTLS12, []uint16{o.Suite}
	}
	return &tls.Config{
		MinVersion:   min,
		MaxVersion:   max,
		CipherSuites: suites,
		// Present the certificate even when the server's CA list does not
		// name our CA, so a foreign server learns why it refuses us.
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return &cert, nil
		},
		InsecureSkipVerify: true, // replaced by VerifyConnection, see above
		VerifyConnection: func(cs tls.ConnectionState) error {
			if err := verify(cs.PeerCertificates, roots, o.now(), x509.ExtKeyUsageServerAuth); err != nil {
				return err
			}
			if err := b.checkRevoked(cs.PeerCertificates); err != nil {
				return err
			}
			if err := checkPeerRole(cs, o.PeerRole); err != nil {
				return err
			}
			return checkPeerName(cs, o.PeerName)
		},
		Time: o.Time,
	}
}

// verify checks that chain[0] is signed by a certificate in roots, valid at
// now, for usage.
func verify(chain []*x509.Certificate, roots *x509.CertPool, now time.Time, usage x509.ExtKeyUsage) error {
	if len(chain) == 0 {
		return fmt.Errorf("pki: peer sent no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	if err != nil {
		return &tls.CertificateVerificationError{UnverifiedCertificates: chain, Err: err}
	}
	return nil
}

func checkPeerRole(cs tls.ConnectionState, role string) error {
	if role == "" || len(cs.PeerCertificates) == 0 {
		return nil
	}
	if got := Role(cs.PeerCertificates[0]); got != role {
		if got == "" {
			got = "no role"
		}
		return fmt.Errorf("pki: peer %q is %s, want %s", PeerName(cs), got, role)
	}
	return nil
}

func checkPeerName(cs tls.ConnectionState, name string) error {
	if name == "" || len(cs.PeerCertificates) == 0 {
		return nil
	}
	if err := cs.PeerCertificates[0].VerifyHostname(name); err != nil {
		return fmt.Errorf("pki: peer %q is not %q: %w", PeerName(cs), name, err)
	}
	return nil
}

// PeerName is the common name of the peer's certificate on a connection
// that completed its handshake, or "" if it has none.
func PeerName(cs tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return ""
	}
	return cs.PeerCertificates[0].Subject.CommonName
}

// BoardClock adapts a clock that may be unset (a board without a
// real-time clock reads 1970) for Options.Time: it returns now(), or
// earliest when now() is before it, so certificates are still checked
// (chain, usage, names, and expiry as of that time) rather than all
// refused as not yet valid. now nil means time.Now. A board uses
// Bundle.Clock, whose earliest time moves on with what it verifies and
// the time it runs.
func BoardClock(now func() time.Time, earliest time.Time) func() time.Time {
	if now == nil {
		now = time.Now
	}
	return func() time.Time {
		if t := now(); !t.Before(earliest) {
			return t
		}
		return earliest
	}
}
