package main

import (
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/ferry-hv/ferry/internal/pki"
)

var keysCommand = command{
	usage: "-out DIR -ca NAME node[=IP]...",
	help:  "make a CA and a PEM bundle per node (DIR/<node>.pem: CA cert, node cert, PKCS#8 key) plus DIR/ca.pem",
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
			if err := writeKeys(*out, keys, *force); err != nil {
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

// writeKeys writes ca.pem (0644) and one <name>.pem (0600, it holds the
// key) per node into dir. Unless force, it refuses to replace any file: a
// new CA would orphan every bundle already handed out.
func writeKeys(dir string, k *pki.Keys, force bool) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	files := map[string][]byte{"ca.pem": k.CA}
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
