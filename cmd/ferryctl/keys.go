// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"path/filepath"
	"time"

	"github.com/ferry-hv/ferry/internal/pki"
)

var keysCommand = command{
	usage: "-out DIR -ca NAME board[=IP]... operator:NAME...",
	help: "make a CA and a PEM bundle per board or operator (DIR/<name>.pem: CA cert, cert, PKCS#8 key) plus DIR/ca.pem;\n" +
		"           boards serve the API and move guests between each other, operators call the API",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		out := fs.String("out", "build/keys", "output `directory`")
		ca := fs.String("ca", "ferry", "the CA's `name`")
		force := fs.Bool("force", false, "replace existing keys in the directory")
		valid := fs.Duration("valid", pki.DefaultValidity, "how long the certificates are valid, from an hour ago")
		return func(args []string) error {
			if len(args) == 0 {
				return usageError{"want at least one node name"}
			}
			var nodes []pki.Node
			for _, a := range args {
				n, err := pki.ParseNode(a)
				if err != nil {
					return usageError{err.Error()}
				}
				nodes = append(nodes, n)
			}
			if *valid <= 0 {
				return usageError{fmt.Sprintf("-valid %v: want a positive duration", *valid)}
			}
			w := pki.NewWindow(time.Now(), *valid)
			keys, err := pki.Generate(*ca, nodes, w, rand.Reader)
			if err != nil {
				return err
			}
			if err := keys.WriteDir(*out, *force); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s (CA %q, valid %s to %s)\n", filepath.Join(*out, "ca.pem"), *ca,
				w.NotBefore.Format(time.RFC3339), w.NotAfter.Format(time.RFC3339))
			for _, n := range keys.Names {
				fmt.Fprintf(e.stdout, "wrote %s\n", filepath.Join(*out, n+".pem"))
			}
			return nil
		}
	},
}
