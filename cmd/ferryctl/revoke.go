// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/pki"
)

var revokeCommand = command{
	usage: "-dir DIR [NAME...]",
	help: "withdraw the keys of boards or operators: add their certificates to DIR/crl.pem, the CA's revocation list\n" +
		"           (signed with DIR/ca-key.pem); then push it to every board with ferryctl crl (migrate and resolve push it\n" +
		"           to a board that has an older one). No NAME: a fresh list, nothing more revoked, issued now\n" +
		"           (a board without a real-time clock takes its issue as the earliest time it checks certificates at)",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		dir := fs.String("dir", "build/keys", "the keys `directory` ferryctl keys wrote")
		return func(args []string) error {
			rl, err := pki.Revoke(*dir, args, rand.Reader)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s: revocation list %v, %d certificate(s) revoked\n", filepath.Join(*dir, "crl.pem"), rl.Number, len(rl.RevokedCertificateEntries))
			return nil
		}
	},
}

var crlCommand = command{
	usage: "BOARD...",
	help:  "push the CA's revocation list to boards: from then on they refuse every key it names",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		file := fs.String("crl", "build/keys/crl.pem", "the revocation list `file` (ferryctl revoke writes it)")
		timeout := fs.Duration("timeout", 10*time.Second, "give up on a board after `duration`")
		return func(args []string) error {
			if len(args) == 0 {
				return usageError{"want the boards' addresses"}
			}
			data, err := os.ReadFile(*file)
			if err != nil {
				return err
			}
			s, err := e.open(e.ctx)
			if err != nil {
				return err
			}
			defer s.close()
			c := s.client()
			defer c.close()
			failed := 0
			for _, a := range args {
				addr, err := apiAddr(a, api.APIPort)
				if err != nil {
					return err
				}
				got, err := pushCRL(e.ctx, c, addr, data, *timeout)
				if err != nil {
					failed++
					fmt.Fprintf(e.stdout, "%s: %v\n", addr, err)
					continue
				}
				fmt.Fprintf(e.stdout, "%s: revocation list %s in force, %d revoked\n", addr, got.Number, got.Revoked)
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d board(s) did not take the list", failed, len(args))
			}
			return nil
		}
	},
}

func pushCRL(ctx context.Context, c *client, addr string, pem []byte, timeout time.Duration) (api.CRL, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	code, data, _, err := c.do(ctx, http.MethodPost, addr, api.PathCRL, api.CRLRequest{PEM: string(pem)})
	if err != nil {
		return api.CRL{}, err
	}
	var got api.CRL
	if code != http.StatusOK || json.Unmarshal(data, &got) != nil {
		return api.CRL{}, answerError("POST", addr, api.PathCRL, code, data)
	}
	return got, nil
}

// crlPushTimeout bounds pushing a board its missing revocation list.
const crlPushTimeout = 10 * time.Second

// crlSync is ferryctl's newest revocation list -- crl.pem beside its keys,
// where ferryctl revoke writes it -- pushed to every board whose status
// shows an older one before ferryctl asks it to move or resolve a guest: a
// board forgets a pushed list when it restarts, and ferryctl puts it back
// in the first call after. Boards also refuse a migration whose request
// names a newer list than their own (api.MigrateRequest.CRL).
type crlSync struct {
	pem  []byte
	info pki.CRLInfo // Number nil: ferryctl has no list
}

// newestCRL reads ferryctl's list, checked against its CA; none is no
// error (nothing was ever revoked).
func (e *env) newestCRL(b *pki.Bundle) (crlSync, error) {
	path := filepath.Join(filepath.Dir(e.g.keys), "crl.pem")
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return crlSync{}, nil
	}
	if err != nil {
		return crlSync{}, err
	}
	info, err := b.ReadCRL(data)
	if err != nil {
		return crlSync{}, fmt.Errorf("%s: %w", path, err)
	}
	return crlSync{pem: data, info: info}, nil
}

// number is the list's number as the API says it ("" if none).
func (s crlSync) number() string {
	if s.info.Number == nil {
		return ""
	}
	return s.info.Number.String()
}

// push gives the board at addr, whose status is st, ferryctl's list if
// the board's is older, and says so on w.
func (s crlSync) push(ctx context.Context, c *client, w io.Writer, addr string, st api.Status, timeout time.Duration) error {
	if s.info.Number == nil || !olderCRL(st.CRL.Number, s.info.Number) {
		return nil
	}
	had := st.CRL.Number
	if had == "" {
		had = "none"
	}
	got, err := pushCRL(ctx, c, addr, s.pem, timeout)
	if err != nil {
		return fmt.Errorf("%s has revocation list %s, older than ferryctl's %v (did it restart?); pushing it: %w", addr, had, s.info.Number, err)
	}
	fmt.Fprintf(w, "%s: had revocation list %s; pushed %s (%d revoked)\n", addr, had, got.Number, got.Revoked)
	return nil
}

// olderCRL says whether a board's list number (decimal, "" for none) is
// older than n.
func olderCRL(have string, n *big.Int) bool {
	if have == "" {
		return true
	}
	h, ok := new(big.Int).SetString(have, 10)
	return !ok || h.Cmp(n) < 0
}
