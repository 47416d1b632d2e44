// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package pki provisions and loads the keys of Ferry's management link:
// one certificate authority, and per node (board or operator) a
// certificate and private key, used for mutual TLS 1.3 on the management
// API and the migration stream.
//
// A node's keys travel as one PEM bundle, in this order:
//
//	-----BEGIN CERTIFICATE-----   the CA certificate
//	-----BEGIN CERTIFICATE-----   the node's certificate, signed by the CA
//	-----BEGIN PRIVATE KEY-----   the node's private key, PKCS#8
//
// Keys are ECDSA P-256 (see Generate for why). Certificates are valid for
// a window (a year unless asked, from an hour before they were made); a
// board checks them against its real-time clock, or -- when that reads
// earlier, or there is none -- against the newest time it knows has passed
// (Bundle.Clock: its own certificate's start or the revocation list's
// issue, and the time it has run since it learned it).
//
// LoadBundle and the tls.Config constructors are used by the hypervisor
// too, so this package must build for GOOS=tamago: crypto and encoding
// only, no files, no network. It is not a general CA: no intermediates,
// no renewal -- re-provision every node to change anything; one key is
// withdrawn with a revocation list (Revoke, SetCRL).
package pki

import (
	"bytes"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"sync/atomic"
)

// PEM block types of a bundle.
const (
	blockCert = "CERTIFICATE"
	blockKey  = "PRIVATE KEY" // PKCS#8
	blockCRL  = "X509 CRL"
)

// Bundle is one node's keys.
type Bundle struct {
	CA   *x509.Certificate // the authority every peer must be signed by
	Cert *x509.Certificate // this node's certificate
	Key  crypto.Signer     // this node's private key, matching Cert
	Name string            // this node's name: Cert's common name
	Role string            // RoleBoard or RoleOperator (Cert's organizational unit)

	crl   atomic.Pointer[revocations] // the CA's latest revocation list (SetCRL)
	floor floor                       // the newest time this node knows has passed (Clock)
}

// Roles: what a certificate's holder may do. Boards serve the management
// API and the migration listener and move guests between each other;
// operators (ferryctl) call the API and nothing else. A certificate names
// its role in its subject's organizational unit, and only a board's may
// serve (extended key usage).
const (
	RoleBoard    = "board"
	RoleOperator = "operator"
)

// Role is the role a certificate names, or "" for none.
func Role(c *x509.Certificate) string {
	if len(c.Subject.OrganizationalUnit) == 1 {
		switch r := c.Subject.OrganizationalUnit[0]; r {
		case RoleBoard, RoleOperator:
			return r
		}
	}
	return ""
}

// bundleWant names the blocks of a bundle, in order, for errors.
var bundleWant = [3]string{"the CA certificate", "the node certificate", "the node private key (PKCS#8)"}

// LoadBundle parses a PEM bundle (CA certificate, node certificate, node
// PKCS#8 private key) and checks that the node certificate is signed by the
// CA and that the key is the certificate's. Errors name the block at fault.
func LoadBundle(data []byte) (*Bundle, error) {
	var blocks []*pem.Block
	rest := data
	for {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		blocks = append(blocks, b)
	}
	if len(blocks) == 0 {
		return nil, errors.New("pki: bundle: no PEM blocks; want the CA certificate, the node certificate and the node private key (PKCS#8), in that order")
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("pki: bundle: %d bytes of non-PEM data after block %d", len(bytes.TrimSpace(rest)), len(blocks))
	}
	// An operator may append the CA's current revocation list.
	var crl *pem.Block
	if n := len(blocks); n == len(bundleWant)+1 && blocks[n-1].Type == blockCRL {
		crl, blocks = blocks[n-1], blocks[:n-1]
	}
	for i, b := range blocks {
		if i >= len(bundleWant) {
			return nil, fmt.Errorf("pki: bundle: unexpected block %d (%s) after the private key; want 3 blocks and perhaps the CA's %s", i+1, b.Type, blockCRL)
		}
		want := blockCert
		if i == 2 {
			want = blockKey
		}
		if b.Type != want {
			hint := ""
			switch {
			case b.Type == blockKey || b.Type == blockCert:
				hint = " (blocks in the wrong order?)"
			case want == blockKey:
				hint = " (convert the key to PKCS#8)"
			}
			return nil, fmt.Errorf("pki: bundle: block %d is %q, want %q: %s%s", i+1, b.Type, want, bundleWant[i], hint)
		}
	}
	if len(blocks) < 3 {
		return nil, fmt.Errorf("pki: bundle: %d block(s); missing %s", len(blocks), bundleWant[len(blocks)])
	}

	ca, err := x509.ParseCertificate(blocks[0].Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: bundle: block 1 (%s): %v", bundleWant[0], err)
	}
	cert, err := x509.ParseCertificate(blocks[1].Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: bundle: block 2 (%s): %v", bundleWant[1], err)
	}
	switch {
	case !ca.IsCA && cert.IsCA:
		return nil, fmt.Errorf("pki: bundle: certificates in the wrong order: block 1 is node %q and block 2 the CA %q; want the CA first", ca.Subject.CommonName, cert.Subject.CommonName)
	case !ca.IsCA:
		return nil, fmt.Errorf("pki: bundle: block 1: certificate %q is not a CA", ca.Subject.CommonName)
	case cert.IsCA:
		return nil, fmt.Errorf("pki: bundle: block 2: certificate %q is a CA, want the node's certificate", cert.Subject.CommonName)
	}
	if err := cert.CheckSignatureFrom(ca); err != nil {
		return nil, fmt.Errorf("pki: bundle: node certificate %q is not signed by the CA %q in block 1: %v", cert.Subject.CommonName, ca.Subject.CommonName, err)
	}

	k, err := x509.ParsePKCS8PrivateKey(blocks[2].Bytes)
	if err != nil {
		return nil, fmt.Errorf("pki: bundle: block 3 (%s): %v", bundleWant[2], err)
	}
	key, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("pki: bundle: block 3: a %T cannot sign", k)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("pki: bundle: the private key in block 3 does not match node certificate %q", cert.Subject.CommonName)
	}
	role := Role(cert)
	if role == "" {
		return nil, fmt.Errorf("pki: bundle: certificate %q names no role (organizational unit %q, want %q or %q): re-provision it with ferryctl keys",
			cert.Subject.CommonName, cert.Subject.OrganizationalUnit, RoleBoard, RoleOperator)
	}
	bundle := &Bundle{CA: ca, Cert: cert, Key: key, Name: cert.Subject.CommonName, Role: role}
	bundle.floor.raise(ca.NotBefore)
	bundle.floor.raise(cert.NotBefore)
	if crl != nil {
		if _, err := bundle.SetCRL(pem.EncodeToMemory(crl)); err != nil {
			return nil, fmt.Errorf("pki: bundle: block 4: %w", err)
		}
	}
	return bundle, nil
}

// Encode returns the bundle in PEM, in the order LoadBundle reads.
func (b *Bundle) Encode() ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(b.Key)
	if err != nil {
		return nil, fmt.Errorf("pki: encoding the key of %q: %v", b.Name, err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: blockCert, Bytes: b.CA.Raw})
	out = append(out, pem.EncodeToMemory(&pem.Block{Type: blockCert, Bytes: b.Cert.Raw})...)
	return append(out, pem.EncodeToMemory(&pem.Block{Type: blockKey, Bytes: der})...), nil
}
