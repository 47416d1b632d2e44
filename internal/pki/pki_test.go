// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// provision makes a CA and bundles for names, and loads them.
func provision(t *testing.T, ca string, nodes ...string) (*Keys, map[string]*Bundle) {
	t.Helper()
	var ns []Node
	for _, s := range nodes {
		n, err := ParseNode(s)
		if err != nil {
			t.Fatal(err)
		}
		ns = append(ns, n)
	}
	k, err := Generate(ca, ns, NewWindow(time.Now(), DefaultValidity), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	bs := map[string]*Bundle{}
	for i, name := range k.Names {
		b, err := LoadBundle(k.Bundles[i])
		if err != nil {
			t.Fatalf("LoadBundle(%s): %v", name, err)
		}
		bs[name] = b
	}
	return k, bs
}

func TestGenerate(t *testing.T) {
	k, bs := provision(t, "ferry test CA", "board1=10.77.0.11", "board2", "ctl")
	if len(bs) != 3 || k.Names[0] != "board1" {
		t.Fatalf("names %v", k.Names)
	}
	blk, rest := pem.Decode(k.CA)
	if blk == nil || blk.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		t.Fatalf("ca.pem is not exactly one certificate")
	}
	ca, _ := x509.ParseCertificate(blk.Bytes)
	if !ca.IsCA || ca.Subject.CommonName != "ferry test CA" || !ca.MaxPathLenZero {
		t.Errorf("CA certificate: IsCA %v CN %q", ca.IsCA, ca.Subject.CommonName)
	}
	b1 := bs["board1"]
	if !b1.CA.Equal(ca) || b1.Name != "board1" {
		t.Errorf("board1 bundle CA/name mismatch: %q", b1.Name)
	}
	c := b1.Cert
	if d := c.NotAfter.Sub(c.NotBefore); d != DefaultValidity+skew || time.Since(c.NotBefore) < skew-time.Minute || time.Since(c.NotBefore) > skew+time.Minute {
		t.Errorf("validity %v..%v: want from an hour ago for a year", c.NotBefore, c.NotAfter)
	}
	if len(c.DNSNames) != 1 || c.DNSNames[0] != "board1" || len(c.IPAddresses) != 1 || !c.IPAddresses[0].Equal(net.ParseIP("10.77.0.11")) {
		t.Errorf("board1 SANs: DNS %v IP %v", c.DNSNames, c.IPAddresses)
	}
	if c := bs["board2"].Cert; len(c.IPAddresses) != 0 || c.DNSNames[0] != "board2" {
		t.Errorf("board2 SANs: DNS %v IP %v", c.DNSNames, c.IPAddresses)
	}
	if _, ok := b1.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key is %T, want ECDSA", b1.Key)
	}
	if c.SerialNumber.Cmp(bs["ctl"].Cert.SerialNumber) == 0 {
		t.Error("two certificates share a serial number")
	}
	for _, at := range []time.Time{c.NotBefore, c.NotAfter} {
		if err := verify([]*x509.Certificate{c}, b1.pool(), at, x509.ExtKeyUsageClientAuth); err != nil {
			t.Errorf("not valid at %v: %v", at, err)
		}
	}
	for _, at := range []time.Time{c.NotBefore.Add(-time.Second), c.NotAfter.Add(time.Second)} {
		if err := verify([]*x509.Certificate{c}, b1.pool(), at, x509.ExtKeyUsageClientAuth); err == nil {
			t.Errorf("valid at %v, outside its window", at)
		}
	}
}

func TestGenerateRefuses(t *testing.T) {
	for _, s := range []string{"", "ca", "CA", "a/b", "../x", "-x", "x=10.77.0.300", "a b"} {
		if _, err := ParseNode(s); err == nil {
			t.Errorf("ParseNode(%q) accepted", s)
		}
	}
	if _, err := Generate("ca", []Node{{Name: "a"}, {Name: "A"}}, NewWindow(time.Now(), time.Hour), rand.Reader); err == nil {
		t.Error("duplicate names accepted")
	}
	if _, err := Generate("", []Node{{Name: "a"}}, NewWindow(time.Now(), time.Hour), rand.Reader); err == nil {
		t.Error("empty CA name accepted")
	}
	if _, err := Generate("ca", nil, NewWindow(time.Now(), time.Hour), rand.Reader); err == nil {
		t.Error("no nodes accepted")
	}
}

func blocks(t *testing.T, bundle []byte) []*pem.Block {
	var out []*pem.Block
	for {
		b, rest := pem.Decode(bundle)
		if b == nil {
			return out
		}
		out = append(out, b)
		bundle = rest
	}
}

func join(bs ...*pem.Block) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, pem.EncodeToMemory(b)...)
	}
	return out
}

func TestLoadBundleErrors(t *testing.T) {
	k, _ := provision(t, "CA one", "board1", "board2")
	other, _ := provision(t, "CA two", "board1")
	b := blocks(t, k.Bundles[0])  // CA, board1, key1
	b2 := blocks(t, k.Bundles[1]) // CA, board2, key2
	foreign := blocks(t, other.Bundles[0])
	ecKey, _ := x509.ParsePKCS8PrivateKey(b[2].Bytes)
	sec1, _ := x509.MarshalECPrivateKey(ecKey.(*ecdsa.PrivateKey))

	for _, tc := range []struct {
		name, want string
		data       []byte
	}{
		{"empty", "no PEM blocks", nil},
		{"garbage", "no PEM blocks", []byte("not pem")},
		{"CA only", "missing the node certificate", join(b[0])},
		{"no key", "missing the node private key", join(b[0], b[1])},
		{"key first", `block 1 is "PRIVATE KEY"`, join(b[2], b[0], b[1])},
		{"node before CA", "wrong order", join(b[1], b[0], b[2])},
		{"two CAs", "is a CA, want the node's certificate", join(b[0], b[0], b[2])},
		{"two nodes", "is not a CA", join(b[1], b2[1], b[2])},
		{"mismatched key", "does not match node certificate \"board1\"", join(b[0], b[1], b2[2])},
		{"foreign CA", "not signed by the CA", join(foreign[0], b[1], b[2])},
		{"SEC1 key", "convert the key to PKCS#8", join(b[0], b[1], &pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1})},
		{"extra block", "unexpected block 4", join(b[0], b[1], b[2], b[0])},
		{"trailing junk", "non-PEM data", append(join(b[0], b[1], b[2]), "junk"...)},
		{"corrupt cert", "block 2 (the node certificate)", join(b[0], &pem.Block{Type: "CERTIFICATE", Bytes: []byte{0x30, 1, 2}}, b[2])},
	} {
		_, err := LoadBundle(tc.data)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: LoadBundle error %v; want one containing %q", tc.name, err, tc.want)
		}
	}
	if _, err := LoadBundle(join(b[0], b[1], b[2])); err != nil {
		t.Errorf("reassembled bundle: %v", err)
	}
}

// handshake runs a TLS handshake over an in-memory pipe and returns each
// side's error. The client also reads one byte the server writes after its
// handshake, so a refusal by the server reaches the client.
func handshake(t *testing.T, server, client *tls.Config) (serverErr, clientErr error, serverSaw string) {
	t.Helper()
	sc, cc := net.Pipe()
	defer sc.Close()
	defer cc.Close()
	deadline := time.Now().Add(10 * time.Second)
	sc.SetDeadline(deadline)
	cc.SetDeadline(deadline)
	done := make(chan struct{})
	go func() {
		defer close(done)
		s := tls.Server(sc, server)
		if serverErr = s.Handshake(); serverErr == nil {
			serverSaw = PeerName(s.ConnectionState())
			_, serverErr = s.Write([]byte{1})
		}
		sc.Close()
	}()
	c := tls.Client(cc, client)
	if clientErr = c.Handshake(); clientErr == nil {
		if cs := c.ConnectionState(); cs.Version != tls.VersionTLS13 && (client.MaxVersion != tls.VersionTLS12 || cs.CipherSuite != client.CipherSuites[0]) {
			clientErr = fmt.Errorf("negotiated version %#x suite %s", cs.Version, tls.CipherSuiteName(cs.CipherSuite))
		} else {
			_, clientErr = c.Read(make([]byte, 1))
		}
	}
	cc.Close()
	<-done
	return
}

func TestMutualTLS(t *testing.T) {
	_, bs := provision(t, "CA one", "board1=10.77.0.11", "board2", "operator:ctl")
	_, evil := provision(t, "CA two", "board1", "operator:ctl")
	board, ctl := bs["board1"], bs["ctl"]

	t.Run("same CA", func(t *testing.T) {
		se, ce, saw := handshake(t, board.ServerConfig(Options{}), ctl.ClientConfig(Options{}))
		if se != nil || ce != nil || saw != "ctl" {
			t.Fatalf("server %v, client %v, server saw %q", se, ce, saw)
		}
	})

	t.Run("client from another CA", func(t *testing.T) {
		// It trusts the board's CA, so the refusal is the server's.
		rogue := &Bundle{CA: board.CA, Cert: evil["ctl"].Cert, Key: evil["ctl"].Key, Name: "ctl"}
		se, ce, saw := handshake(t, board.ServerConfig(Options{}), rogue.ClientConfig(Options{}))
		if saw != "" {
			t.Errorf("server accepted %q", saw)
		}
		var ve *tls.CertificateVerificationError
		var ua x509.UnknownAuthorityError
		if !errors.As(se, &ve) || !errors.As(se, &ua) {
			t.Errorf("server: %v; want an unknown-authority verification error", se)
		}
		if ce == nil || !strings.Contains(ce.Error(), "remote error: tls: unknown certificate authority") {
			t.Errorf("client: %v; want the server's unknown-CA alert", ce)
		}
	})

	t.Run("server from another CA", func(t *testing.T) {
		se, ce, _ := handshake(t, evil["board1"].ServerConfig(Options{}), ctl.ClientConfig(Options{}))
		var ua x509.UnknownAuthorityError
		if !errors.As(ce, &ua) {
			t.Errorf("client: %v; want unknown authority", ce)
		}
		if se == nil {
			t.Error("server: handshake succeeded with a client that refused it")
		}
	})

	t.Run("client without a certificate", func(t *testing.T) {
		anon := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
		se, _, _ := handshake(t, board.ServerConfig(Options{}), anon)
		if se == nil || !strings.Contains(se.Error(), "certificate") {
			t.Errorf("server: %v; want a refusal for the missing certificate", se)
		}
	})

	t.Run("TLS 1.2 client", func(t *testing.T) {
		old := ctl.ClientConfig(Options{})
		old.MaxVersion = tls.VersionTLS12
		se, ce, _ := handshake(t, board.ServerConfig(Options{}), old)
		if se == nil || ce == nil {
			t.Errorf("server %v, client %v; want both to fail", se, ce)
		}
	})

	t.Run("clock hook", func(t *testing.T) {
		epoch := func() time.Time { return time.Unix(0, 0) } // a board without an RTC
		late := func() time.Time { return board.Cert.NotAfter.Add(-time.Minute) }
		se, _, _ := handshake(t, board.ServerConfig(Options{Time: epoch}), ctl.ClientConfig(Options{}))
		var inv x509.CertificateInvalidError
		if !errors.As(se, &inv) || inv.Reason != x509.Expired {
			t.Errorf("server at 1970: %v; want certificate not yet valid", se)
		}
		_, ce, _ := handshake(t, board.ServerConfig(Options{}), ctl.ClientConfig(Options{Time: epoch}))
		if !errors.As(ce, &inv) || inv.Reason != x509.Expired {
			t.Errorf("client at 1970: %v; want certificate not yet valid", ce)
		}
		se, ce, _ = handshake(t, board.ServerConfig(Options{Time: late}), ctl.ClientConfig(Options{Time: late}))
		if se != nil || ce != nil {
			t.Errorf("just before expiry: server %v, client %v", se, ce)
		}
		expired := func() time.Time { return board.Cert.NotAfter.Add(time.Minute) }
		if se, _, _ = handshake(t, board.ServerConfig(Options{Time: expired}), ctl.ClientConfig(Options{})); !errors.As(se, &inv) || inv.Reason != x509.Expired {
			t.Errorf("server after expiry: %v; want expired", se)
		}
	})

	t.Run("roles", func(t *testing.T) {
		// The API takes operators only, the migration listener boards only.
		if se, ce, saw := handshake(t, board.ServerConfig(Options{PeerRole: RoleOperator}), ctl.ClientConfig(Options{PeerRole: RoleBoard})); se != nil || ce != nil || saw != "ctl" {
			t.Errorf("operator to the API: server %v, client %v", se, ce)
		}
		se, _, saw := handshake(t, board.ServerConfig(Options{PeerRole: RoleOperator}), bs["board2"].ClientConfig(Options{}))
		if se == nil || !strings.Contains(se.Error(), `peer "board2" is board, want operator`) || saw != "" {
			t.Errorf("a board key on the API: server %v", se)
		}
		se, _, _ = handshake(t, board.ServerConfig(Options{PeerRole: RoleBoard}), ctl.ClientConfig(Options{}))
		if se == nil || !strings.Contains(se.Error(), `peer "ctl" is operator, want board`) {
			t.Errorf("an operator key posing as a board: server %v", se)
		}
		// An operator's certificate cannot serve: not for server auth.
		_, ce, _ := handshake(t, ctl.ServerConfig(Options{}), board.ClientConfig(Options{}))
		var inv x509.CertificateInvalidError
		if !errors.As(ce, &inv) || inv.Reason != x509.IncompatibleUsage {
			t.Errorf("an operator serving: client %v; want an extended key usage refusal", ce)
		}
	})

	t.Run("peer name", func(t *testing.T) {
		for name, ok := range map[string]bool{"board1": true, "10.77.0.11": true, "board2": false, "10.77.0.12": false} {
			_, ce, _ := handshake(t, board.ServerConfig(Options{}), ctl.ClientConfig(Options{PeerName: name}))
			if (ce == nil) != ok {
				t.Errorf("PeerName %q: client %v, want ok=%v", name, ce, ok)
			}
		}
		se, _, _ := handshake(t, board.ServerConfig(Options{PeerName: "board2"}), ctl.ClientConfig(Options{}))
		if se == nil {
			t.Error("server accepted ctl as board2")
		}
	})
}

func TestParseNode(t *testing.T) {
	n, err := ParseNode("board1=10.77.0.11")
	if err != nil || n.Name != "board1" || n.IP != netip.MustParseAddr("10.77.0.11") || n.Role != RoleBoard {
		t.Errorf("ParseNode = %+v, %v", n, err)
	}
	if n, err := ParseNode("operator:ctl"); err != nil || n.Name != "ctl" || n.Role != RoleOperator {
		t.Errorf("ParseNode(operator:ctl) = %+v, %v", n, err)
	}
	for _, bad := range []string{"operator:", "operator:ctl=10.0.0.1", "crl", "operator:ca"} {
		if _, err := ParseNode(bad); err == nil {
			t.Errorf("ParseNode(%q) accepted", bad)
		}
	}
}

func TestBoardClock(t *testing.T) {
	at := func(tm time.Time) func() time.Time { return func() time.Time { return tm } }
	earliest := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	for _, tc := range []struct{ now, want time.Time }{
		{time.Unix(0, 0), earliest},
		{time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
		{earliest, earliest},
	} {
		if got := BoardClock(at(tc.now), earliest)(); !got.Equal(tc.want) {
			t.Errorf("BoardClock(%v) = %v, want %v", tc.now, got, tc.want)
		}
	}
	// An unset board clock with BoardClock still completes a handshake
	// with certificates of the same provisioning.
	_, bs := provision(t, "CA", "board1", "operator:ctl")
	epoch := BoardClock(at(time.Unix(0, 0)), bs["board1"].Cert.NotBefore)
	se, ce, _ := handshake(t, bs["board1"].ServerConfig(Options{Time: epoch}), bs["ctl"].ClientConfig(Options{Time: epoch}))
	if se != nil || ce != nil {
		t.Errorf("handshake with BoardClock at 1970: server %v, client %v", se, ce)
	}
}

// A stream suite is negotiated as asked, still mutually authenticated; a
// server without Suite refuses TLS 1.2; FastestSuite measures both.
func TestStreamSuites(t *testing.T) {
	_, bs := provision(t, "CA one", "a", "b")
	_, evil := provision(t, "CA two", "a")
	a, b := bs["a"], bs["b"]
	for _, suite := range StreamSuites {
		se, ce, saw := handshake(t, b.ServerConfig(Options{Suite: suite}), a.ClientConfig(Options{Suite: suite}))
		if se != nil || ce != nil || saw != "a" {
			t.Fatalf("%s: server %v, client %v, saw %q", tls.CipherSuiteName(suite), se, ce, saw)
		}
		rogue := &Bundle{CA: b.CA, Cert: evil["a"].Cert, Key: evil["a"].Key, Name: "a"}
		if se, _, saw := handshake(t, b.ServerConfig(Options{Suite: suite}), rogue.ClientConfig(Options{Suite: suite})); se == nil || saw != "" {
			t.Fatalf("%s: a foreign certificate was accepted (%v, %q)", tls.CipherSuiteName(suite), se, saw)
		}
	}
	if se, ce, _ := handshake(t, b.ServerConfig(Options{}), a.ClientConfig(Options{Suite: StreamSuites[0]})); se == nil && ce == nil {
		t.Fatal("a TLS 1.3-only server accepted TLS 1.2")
	}
	best, rates, err := a.FastestSuite(Options{}, 1<<20)
	if err != nil || len(rates) != len(StreamSuites) {
		t.Fatalf("FastestSuite: %v, %v", err, rates)
	}
	for s, r := range rates {
		if r <= 0 || r > rates[best] {
			t.Fatalf("%s at %.0f B/s, best %s at %.0f", tls.CipherSuiteName(s), r, tls.CipherSuiteName(best), rates[best])
		}
	}
}

// One key is withdrawn: the CA's revocation list names it, a board that
// has the list refuses it in both directions, the others are untouched;
// an older list, or one from another CA, is refused; a list appended to a
// bundle is in force from the start.
func TestRevoke(t *testing.T) {
	dir := t.TempDir()
	if _, err := Provision(dir, "CA", "board1", "board2", "operator:ctl", "operator:lost"); err != nil {
		t.Fatal(err)
	}
	load := func(name string) *Bundle {
		data, err := os.ReadFile(filepath.Join(dir, name+".pem"))
		if err != nil {
			t.Fatal(err)
		}
		b, err := LoadBundle(data)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	board, board2, ctl, lost := load("board1"), load("board2"), load("ctl"), load("lost")
	first, err := Revoke(dir, []string{"lost"}, rand.Reader)
	if err != nil || first.Number.Int64() != 1 || len(first.RevokedCertificateEntries) != 1 {
		t.Fatal(first, err)
	}
	crl1, _ := os.ReadFile(filepath.Join(dir, "crl.pem"))
	if _, err := Revoke(dir, []string{"board2"}, rand.Reader); err != nil {
		t.Fatal(err)
	}
	crl2, _ := os.ReadFile(filepath.Join(dir, "crl.pem"))
	info, err := board.SetCRL(crl2)
	if err != nil || info.Number.Int64() != 2 || info.Revoked != 2 {
		t.Fatal(info, err)
	}
	if _, err := board.SetCRL(crl1); err == nil || !strings.Contains(err.Error(), "not newer") {
		t.Fatalf("older list: %v", err)
	}
	se, _, _ := handshake(t, board.ServerConfig(Options{}), lost.ClientConfig(Options{}))
	if se == nil || !strings.Contains(se.Error(), `peer "lost"'s certificate`) || !strings.Contains(se.Error(), "revoked") {
		t.Errorf("revoked client: %v", se)
	}
	if _, ce, _ := handshake(t, board2.ServerConfig(Options{}), board.ClientConfig(Options{})); ce == nil || !strings.Contains(ce.Error(), "revoked") {
		t.Errorf("revoked server: %v", ce)
	}
	if se, ce, _ := handshake(t, board.ServerConfig(Options{}), ctl.ClientConfig(Options{})); se != nil || ce != nil {
		t.Errorf("a key still valid: %v %v", se, ce)
	}
	_, evil := provision(t, "other CA", "board1")
	otherDir := t.TempDir()
	Provision(otherDir, "other CA", "x", "y")
	Revoke(otherDir, []string{"y"}, rand.Reader)
	foreign, _ := os.ReadFile(filepath.Join(otherDir, "crl.pem"))
	if _, err := evil["board1"].SetCRL(crl2); err == nil || !strings.Contains(err.Error(), "not signed by the CA") {
		t.Errorf("another CA's list: %v", err)
	}
	if _, err := board2.SetCRL(foreign); err == nil {
		t.Error("a foreign list was taken")
	}
	// Appended to a bundle: in force from the start.
	data, _ := os.ReadFile(filepath.Join(dir, "board1.pem"))
	fresh, err := LoadBundle(append(data, crl2...))
	if err != nil || fresh.CRL().Revoked != 2 {
		t.Fatalf("bundle with a list: %v %+v", err, fresh.CRL())
	}
	if _, err := LoadBundle(append(data, foreign...)); err == nil {
		t.Error("a bundle with a foreign list loaded")
	}
}
