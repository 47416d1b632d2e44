package main

import (
	"crypto/rand"
	"flag"
	"fmt"
	"path/filepath"

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
			keys, err := pki.Generate(*ca, nodes, rand.Reader)
			if err != nil {
				return err
			}
			if err := keys.WriteDir(*out, *force); err != nil {
				return err
			}
			fmt.Fprintf(e.stdout, "wrote %s (CA %q)\n", filepath.Join(*out, "ca.pem"), *ca)
			for _, n := range keys.Names {
				fmt.Fprintf(e.stdout, "wrote %s\n", filepath.Join(*out, n+".pem"))
			}
			return nil
		}
	},
}
