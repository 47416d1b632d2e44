package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/pki"
)

var revokeCommand = command{
	usage: "-dir DIR NAME...",
	help: "withdraw the keys of boards or operators: add their certificates to DIR/crl.pem, the CA's revocation list\n" +
		"           (signed with DIR/ca-key.pem); then push it to every board with ferryctl crl",
	flags: func(fs *flag.FlagSet, e *env) func([]string) error {
		dir := fs.String("dir", "build/keys", "the keys `directory` ferryctl keys wrote")
		return func(args []string) error {
			if len(args) == 0 {
				return usageError{"want the names of the keys to revoke"}
			}
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
