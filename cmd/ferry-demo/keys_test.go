// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/pki"
)

// The demo makes its keys on a fresh machine, keeps good ones, and makes
// new ones in place of an older Ferry's (without roles) or expiring ones.
func TestProvisionKeys(t *testing.T) {
	dir := t.TempDir()
	if err := provision(dir); err != nil {
		t.Fatal(err)
	}
	if err := usableKeys(dir); err != nil {
		t.Fatalf("fresh keys: %v", err)
	}
	first, _ := os.ReadFile(filepath.Join(dir, "ctl.pem"))
	if err := provision(dir); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(dir, "ctl.pem")); !bytes.Equal(again, first) {
		t.Fatal("good keys were replaced")
	}
	// An operator's key where a board's must be: replaced.
	os.Rename(filepath.Join(dir, "ctl.pem"), filepath.Join(dir, "a.pem"))
	if err := usableKeys(dir); err == nil {
		t.Fatal("a.pem holding an operator's key accepted")
	}
	if err := provision(dir); err != nil || usableKeys(dir) != nil {
		t.Fatalf("not re-provisioned: %v, %v", err, usableKeys(dir))
	}
	// Keys about to expire: replaced.
	var nodes []pki.Node
	for _, s := range []string{"a=10.77.0.11", "b=10.77.0.12", "operator:ctl"} {
		n, err := pki.ParseNode(s)
		if err != nil {
			t.Fatal(err)
		}
		nodes = append(nodes, n)
	}
	k, err := pki.Generate("old", nodes, pki.NewWindow(time.Now().Add(-time.Hour), 2*time.Hour), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if err := k.WriteDir(dir, true); err != nil {
		t.Fatal(err)
	}
	if err := usableKeys(dir); err == nil {
		t.Fatal("keys expiring within the hour accepted")
	}
	if err := provision(dir); err != nil || usableKeys(dir) != nil {
		t.Fatalf("expiring keys not replaced: %v, %v", err, usableKeys(dir))
	}
}
