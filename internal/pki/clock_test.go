// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"
)

// clockRig is a CA whose board certificate started at t0 and runs two
// years, an operator key "old" that expired a day after t0, and the CA's
// key to sign revocation lists and more certificates.
type clockRig struct {
	t0    time.Time
	ca    *x509.Certificate
	caKey *ecdsa.PrivateKey
	board *Bundle
	old   *Bundle
}

func newClockRig(t *testing.T) *clockRig {
	t.Helper()
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	k, err := Generate("CA", []Node{{Name: "board1"}}, Window{t0, t0.Add(2 * 365 * 24 * time.Hour)}, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	board, err := LoadBundle(k.Bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(k.CAKey)
	key, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	r := &clockRig{t0: t0, ca: board.CA, caKey: key.(*ecdsa.PrivateKey), board: board}
	r.old = r.issue(t, "old", RoleOperator, Window{t0, t0.Add(24 * time.Hour)})
	return r
}

func (r *clockRig) issue(t *testing.T, name, role string, w Window) *Bundle {
	t.Helper()
	b, err := issue(r.ca, r.caKey, Node{Name: name, Role: role}, w, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// crl is a revocation list numbered n, issued at at, revoking nothing.
func (r *clockRig) crl(t *testing.T, n int64, at time.Time) []byte {
	t.Helper()
	der, err := x509.CreateRevocationList(rand.Reader, &x509.RevocationList{Number: big.NewInt(n), ThisUpdate: at, NextUpdate: r.ca.NotAfter}, r.ca, r.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: blockCRL, Bytes: der})
}

// expired says whether the board, on its Clock without a real-time clock
// (time.Unix(0, 0)), refuses old's certificate as expired.
func (r *clockRig) expired(t *testing.T) bool {
	t.Helper()
	epoch := func() time.Time { return time.Unix(0, 0) }
	se, _, _ := handshake(t, r.board.ServerConfig(Options{Time: r.board.Clock(epoch), PeerRole: RoleOperator}), r.old.ClientConfig(Options{}))
	var inv x509.CertificateInvalidError
	if se != nil && !(errors.As(se, &inv) && inv.Reason == x509.Expired) {
		t.Fatalf("handshake: %v, want success or expired", se)
	}
	return se != nil
}

// A board without a real-time clock checked certificates as of its own
// certificate's start for ever: an operator key that expired the next day
// still opened its API a year on. Its clock now takes the newest time it
// knows has passed: a revocation list's issue refuses the expired key.
func TestClockFloorCRL(t *testing.T) {
	r := newClockRig(t)
	if r.expired(t) {
		t.Fatal("refused before the board knew any later time")
	}
	if got := r.board.Floor(); got.Sub(r.t0) > time.Minute {
		t.Fatalf("floor %v, want the certificate's start %v", got, r.t0)
	}
	if _, err := r.board.SetCRL(r.crl(t, 1, r.t0.Add(60*24*time.Hour))); err != nil {
		t.Fatal(err)
	}
	if !r.expired(t) {
		t.Fatal("the expired key is still taken after a revocation list issued 60 days on")
	}
	if got := r.board.Clock(nil)(); got.Before(r.t0.Add(60 * 24 * time.Hour)) {
		t.Errorf("clock %v after the list", got)
	}
	// A real-time clock that reads later wins; one that reads earlier
	// gives way.
	later := r.t0.Add(400 * 24 * time.Hour)
	if got := r.board.Clock(func() time.Time { return later })(); !got.Equal(later) {
		t.Errorf("clock with a later RTC: %v", got)
	}
}

// The floor moves on with the time the board runs: the expired key is
// refused once the board has run past its end, with nothing else learned.
func TestClockFloorUptime(t *testing.T) {
	r := newClockRig(t)
	var up time.Duration
	r.board.floor.since = func(time.Time) time.Duration { return up }
	if r.expired(t) {
		t.Fatal("refused at the start")
	}
	up = 25 * time.Hour
	if !r.expired(t) {
		t.Fatal("the key is taken after the board ran a day past its end")
	}
}
