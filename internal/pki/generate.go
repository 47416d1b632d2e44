// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/netip"
	"strings"
	"time"
)

// Window is when the certificates of one provisioning are valid.
type Window struct{ NotBefore, NotAfter time.Time }

// DefaultValidity is how long certificates are valid unless asked.
const DefaultValidity = 365 * 24 * time.Hour

// skew is how far before now a window starts: clocks differ.
const skew = time.Hour

// NewWindow is a window from an hour before now, for d.
func NewWindow(now time.Time, d time.Duration) Window {
	return Window{NotBefore: now.Add(-skew).UTC().Truncate(time.Second), NotAfter: now.Add(d).UTC().Truncate(time.Second)}
}

// Node names a certificate to issue: Name becomes the common name and a
// DNS SAN; IP, if valid, an IP SAN; Role (RoleBoard if empty) says what
// the holder may do.
type Node struct {
	Name string
	IP   netip.Addr
	Role string
}

// operatorPrefix marks an operator in ParseNode.
const operatorPrefix = "operator:"

// ParseNode parses a board, "name" or "name=IP", or an operator,
// "operator:name".
func ParseNode(s string) (Node, error) {
	if name, ok := strings.CutPrefix(s, operatorPrefix); ok {
		if err := checkName(name); err != nil {
			return Node{}, err
		}
		if strings.Contains(name, "=") {
			return Node{}, fmt.Errorf("pki: operator %q: an operator has no address", s)
		}
		return Node{Name: name, Role: RoleOperator}, nil
	}
	name, ip, hasIP := strings.Cut(s, "=")
	n := Node{Name: name, Role: RoleBoard}
	if err := checkName(name); err != nil {
		return Node{}, err
	}
	if hasIP {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return Node{}, fmt.Errorf("pki: node %q: bad IP address %q", s, ip)
		}
		n.IP = a
	}
	return n, nil
}

// checkName accepts DNS-style names (letters, digits, '-', '.'), which are
// also safe as file names; "ca" is taken by the CA's file.
func checkName(name string) error {
	if name == "" || len(name) > 63 {
		return fmt.Errorf("pki: node name %q: want 1 to 63 characters", name)
	}
	for i, r := range name {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || (i > 0 && (r == '-' || r == '.'))
		if !ok {
			return fmt.Errorf("pki: node name %q: only letters, digits, '-' and '.' (not first) are allowed", name)
		}
	}
	if strings.EqualFold(name, "ca") || strings.EqualFold(name, "crl") {
		return fmt.Errorf("pki: node name %q is reserved for the CA's files", name)
	}
	return nil
}

// Keys are a freshly provisioned set: the CA certificate and key, and one
// bundle per node, in the order the nodes were given. The CA's key is
// what signs revocation lists (Revoke); keep it off the boards.
type Keys struct {
	CA      []byte // PEM: the CA certificate (ca.pem)
	CAKey   []byte // PEM: the CA's private key, PKCS#8 (ca-key.pem)
	Names   []string
	Bundles [][]byte // PEM bundles (<name>.pem), as LoadBundle reads them
}

// Generate makes a CA named caName and a certificate and key for each node,
// drawing randomness from rand.
//
// Keys are ECDSA P-256 rather than Ed25519: both are supported by Go's TLS
// 1.3 on the host and on TamaGo, but P-256 is also what every other TLS
// tool accepts (curl, openssl s_client, browsers), so an operator can talk
// to a board with them, and Go's ECDSA signatures are hedged (randomness
// mixed with the key and message), so a weak board RNG does not leak the
// key.
func Generate(caName string, nodes []Node, valid Window, rand io.Reader) (*Keys, error) {
	if strings.TrimSpace(caName) == "" {
		return nil, fmt.Errorf("pki: empty CA name")
	}
	if !valid.NotBefore.Before(valid.NotAfter) {
		return nil, fmt.Errorf("pki: validity %v to %v is empty", valid.NotBefore, valid.NotAfter)
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("pki: no nodes to issue certificates for")
	}
	seen := map[string]bool{}
	for i, n := range nodes {
		if err := checkName(n.Name); err != nil {
			return nil, err
		}
		switch n.Role {
		case "":
			nodes[i].Role = RoleBoard
		case RoleBoard, RoleOperator:
		default:
			return nil, fmt.Errorf("pki: node %q: role %q, want %q or %q", n.Name, n.Role, RoleBoard, RoleOperator)
		}
		if seen[strings.ToLower(n.Name)] {
			return nil, fmt.Errorf("pki: node %q given twice", n.Name)
		}
		seen[strings.ToLower(n.Name)] = true
	}

	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %v", err)
	}
	caTmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: caName},
		NotBefore:             valid.NotBefore,
		NotAfter:              valid.NotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	if caTmpl.SerialNumber, err = serial(rand); err != nil {
		return nil, err
	}
	caDER, err := x509.CreateCertificate(rand, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %v", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("pki: CA certificate: %v", err)
	}

	caKeyDER, err := x509.MarshalPKCS8PrivateKey(caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: CA key: %v", err)
	}
	keys := &Keys{CA: pem.EncodeToMemory(&pem.Block{Type: blockCert, Bytes: caDER}),
		CAKey: pem.EncodeToMemory(&pem.Block{Type: blockKey, Bytes: caKeyDER})}
	for _, n := range nodes {
		b, err := issue(ca, caKey, n, valid, rand)
		if err != nil {
			return nil, err
		}
		pemBytes, err := b.Encode()
		if err != nil {
			return nil, err
		}
		keys.Names = append(keys.Names, n.Name)
		keys.Bundles = append(keys.Bundles, pemBytes)
	}
	return keys, nil
}

// issue makes node n's key and certificate, signed by ca.
func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, n Node, valid Window, rand io.Reader) (*Bundle, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand)
	if err != nil {
		return nil, fmt.Errorf("pki: key for %q: %v", n.Name, err)
	}
	// A board serves (the API, the migration listener) and dials its
	// peer boards; an operator only dials.
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	if n.Role == RoleOperator {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: n.Name, OrganizationalUnit: []string{n.Role}},
		DNSNames:              []string{n.Name},
		NotBefore:             valid.NotBefore,
		NotAfter:              valid.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           usage,
		BasicConstraintsValid: true,
	}
	if n.IP.IsValid() {
		tmpl.IPAddresses = []net.IP{n.IP.AsSlice()}
	}
	if tmpl.SerialNumber, err = serial(rand); err != nil {
		return nil, err
	}
	der, err := x509.CreateCertificate(rand, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate for %q: %v", n.Name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: certificate for %q: %v", n.Name, err)
	}
	return &Bundle{CA: ca, Cert: cert, Key: key, Name: n.Name, Role: n.Role}, nil
}

// serial returns a random positive 127-bit serial number.
func serial(rand io.Reader) (*big.Int, error) {
	b := make([]byte, 16)
	if _, err := io.ReadFull(rand, b); err != nil {
		return nil, fmt.Errorf("pki: serial number: %v", err)
	}
	b[0] &= 0x7f
	b[0] |= 0x40 // never short, never zero
	return new(big.Int).SetBytes(b), nil
}
