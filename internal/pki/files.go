// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package pki

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// WriteDir writes ca.pem (0644), ca-key.pem (0600) and one <name>.pem
// (0600, it holds the key) per node into dir. Unless force, it refuses to replace any file: a
// new CA would orphan every bundle already handed out.
func (k *Keys) WriteDir(dir string, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{"ca.pem": k.CA, "ca-key.pem": k.CAKey}
	for i, n := range k.Names {
		files[n+".pem"] = k.Bundles[i]
	}
	if !force {
		for name := range files {
			p := filepath.Join(dir, name)
			if _, err := os.Stat(p); err == nil {
				return fmt.Errorf("%s exists; not replacing keys (use -force to make a new CA and replace them all)", p)
			} else if !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	// A new CA makes the old revocation list meaningless.
	if err := os.Remove(filepath.Join(dir, "crl.pem")); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	for name, data := range files {
		mode := os.FileMode(0o600)
		if name == "ca.pem" {
			mode = 0o644
		}
		if err := writeFile(filepath.Join(dir, name), data, mode); err != nil {
			return err
		}
	}
	return nil
}

// writeFile replaces path with data atomically (a temporary file renamed).
func writeFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".keys-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return os.Rename(f.Name(), path)
}

// Provision makes a CA named caName and keys for nodes ("name" or
// "name=IP") and writes them into dir, replacing what is there.
func Provision(dir, caName string, nodes ...string) (*Keys, error) {
	var ns []Node
	for _, s := range nodes {
		n, err := ParseNode(s)
		if err != nil {
			return nil, err
		}
		ns = append(ns, n)
	}
	k, err := Generate(caName, ns, NewWindow(time.Now(), DefaultValidity), rand.Reader)
	if err != nil {
		return nil, err
	}
	return k, k.WriteDir(dir, true)
}
