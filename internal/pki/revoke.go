// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Revocation: the CA signs a list of the serial numbers of certificates it
// no longer vouches for (an X.509 CRL, crl.pem beside ca.pem, numbered);
// the operator pushes it to every board (or appends it to a board's
// bundle), and from then on a handshake with a revoked peer fails -- one
// board's key is withdrawn without re-provisioning the others. A board
// takes only a list signed by its CA and newer than the one it has.

// revocations is the list a bundle checks peers against.
type revocations struct {
	number  *big.Int
	serials map[string]bool // big.Int.String of revoked serial numbers
}

// CRLInfo says which list a bundle now checks against.
type CRLInfo struct {
	Number  *big.Int
	Revoked int
}

// SetCRL makes the bundle refuse every peer whose certificate the CA's
// revocation list data (PEM or DER) names. The list must be signed by the
// bundle's CA and be newer (a larger number) than the one the bundle has.
func (b *Bundle) SetCRL(data []byte) (CRLInfo, error) {
	rl, err := b.parseCRL(data)
	if err != nil {
		return CRLInfo{}, err
	}
	r := &revocations{number: rl.Number, serials: map[string]bool{}}
	for _, e := range rl.RevokedCertificateEntries {
		r.serials[e.SerialNumber.String()] = true
	}
	for {
		cur := b.crl.Load()
		if cur != nil && rl.Number.Cmp(cur.number) <= 0 {
			return CRLInfo{}, fmt.Errorf("pki: revocation list %v is not newer than the one in use, %v", rl.Number, cur.number)
		}
		if b.crl.CompareAndSwap(cur, r) {
			// The CA signed it at ThisUpdate: that time has passed.
			b.floor.raise(rl.ThisUpdate)
			return CRLInfo{Number: rl.Number, Revoked: len(r.serials)}, nil
		}
	}
}

// ReadCRL checks that data (PEM or DER) is a numbered revocation list
// signed by the bundle's CA, without taking it; ferryctl reads its newest
// list so to push it to a board that has an older one.
func (b *Bundle) ReadCRL(data []byte) (CRLInfo, error) {
	rl, err := b.parseCRL(data)
	if err != nil {
		return CRLInfo{}, err
	}
	return CRLInfo{Number: rl.Number, Revoked: len(rl.RevokedCertificateEntries)}, nil
}

// parseCRL parses a revocation list (PEM or DER) and checks that it is
// signed by the bundle's CA and numbered.
func (b *Bundle) parseCRL(data []byte) (*x509.RevocationList, error) {
	der := data
	if blk, _ := pem.Decode(data); blk != nil {
		if blk.Type != blockCRL {
			return nil, fmt.Errorf("pki: a %q PEM block, want %q", blk.Type, blockCRL)
		}
		der = blk.Bytes
	}
	rl, err := x509.ParseRevocationList(der)
	if err != nil {
		return nil, fmt.Errorf("pki: revocation list: %v", err)
	}
	if err := rl.CheckSignatureFrom(b.CA); err != nil {
		return nil, fmt.Errorf("pki: revocation list not signed by the CA %q: %v", b.CA.Subject.CommonName, err)
	}
	if rl.Number == nil {
		return nil, errors.New("pki: revocation list without a number")
	}
	return rl, nil
}

// CRL says which revocation list the bundle checks against (Number nil:
// none).
func (b *Bundle) CRL() CRLInfo {
	if r := b.crl.Load(); r != nil {
		return CRLInfo{Number: r.number, Revoked: len(r.serials)}
	}
	return CRLInfo{}
}

// checkRevoked refuses a peer whose certificate is revoked.
func (b *Bundle) checkRevoked(chain []*x509.Certificate) error {
	r := b.crl.Load()
	if r == nil || len(chain) == 0 {
		return nil
	}
	if c := chain[0]; r.serials[c.SerialNumber.String()] {
		return fmt.Errorf("pki: peer %q's certificate (serial %x) is revoked (revocation list %v)", c.Subject.CommonName, c.SerialNumber, r.number)
	}
	return nil
}

// Revoke adds the certificates of names (their bundles in dir) to dir's
// revocation list, signed with the CA's key (ca-key.pem), and writes it as
// crl.pem with the next number. It returns the list.
func Revoke(dir string, names []string, rand io.Reader) (*x509.RevocationList, error) {
	ca, key, err := loadCA(dir)
	if err != nil {
		return nil, err
	}
	next := &x509.RevocationList{Number: big.NewInt(1), ThisUpdate: time.Now().UTC().Add(-skew), NextUpdate: ca.NotAfter}
	if data, err := os.ReadFile(filepath.Join(dir, "crl.pem")); err == nil {
		blk, _ := pem.Decode(data)
		if blk == nil || blk.Type != blockCRL {
			return nil, fmt.Errorf("pki: %s: not a PEM %s", filepath.Join(dir, "crl.pem"), blockCRL)
		}
		old, err := x509.ParseRevocationList(blk.Bytes)
		if err != nil || old.CheckSignatureFrom(ca) != nil {
			return nil, fmt.Errorf("pki: %s is not this CA's revocation list", filepath.Join(dir, "crl.pem"))
		}
		next.Number = new(big.Int).Add(old.Number, big.NewInt(1))
		next.RevokedCertificateEntries = old.RevokedCertificateEntries
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n+".pem"))
		if err != nil {
			return nil, fmt.Errorf("pki: revoking %q: %v", n, err)
		}
		b, err := LoadBundle(data)
		if err != nil {
			return nil, fmt.Errorf("pki: revoking %q: %w", n, err)
		}
		if !b.CA.Equal(ca) {
			return nil, fmt.Errorf("pki: %q is not a certificate of the CA in %s", n, dir)
		}
		next.RevokedCertificateEntries = append(next.RevokedCertificateEntries,
			x509.RevocationListEntry{SerialNumber: b.Cert.SerialNumber, RevocationTime: time.Now().UTC()})
	}
	der, err := x509.CreateRevocationList(rand, next, ca, key)
	if err != nil {
		return nil, fmt.Errorf("pki: signing the revocation list: %v", err)
	}
	if err := writeFile(filepath.Join(dir, "crl.pem"), pem.EncodeToMemory(&pem.Block{Type: blockCRL, Bytes: der}), 0o644); err != nil {
		return nil, err
	}
	return x509.ParseRevocationList(der)
}

// loadCA reads ca.pem and ca-key.pem from dir.
func loadCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey, error) {
	read := func(name, want string) ([]byte, error) {
		data, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("pki: %v (ferryctl keys keeps the CA's key as %s)", err, name)
		}
		blk, _ := pem.Decode(data)
		if blk == nil || blk.Type != want {
			return nil, fmt.Errorf("pki: %s: want a PEM %s", filepath.Join(dir, name), want)
		}
		return blk.Bytes, nil
	}
	cder, err := read("ca.pem", blockCert)
	if err != nil {
		return nil, nil, err
	}
	kder, err := read("ca-key.pem", blockKey)
	if err != nil {
		return nil, nil, err
	}
	ca, err := x509.ParseCertificate(cder)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: ca.pem: %v", err)
	}
	k, err := x509.ParsePKCS8PrivateKey(kder)
	key, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok || !key.PublicKey.Equal(ca.PublicKey) {
		return nil, nil, fmt.Errorf("pki: ca-key.pem is not the key of ca.pem")
	}
	return ca, key, nil
}
