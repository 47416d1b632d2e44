// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package repo

import (
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The header every source file starts with (after a #! line), in Go's
// and assembly's comments or the shell's.
const (
	goHeader = "// Copyright (c) 2026 The Ferry Authors. All rights reserved.\n// Use of this source code is governed by a BSD-style licence that can be\n// found in the LICENSE file.\n"
	shHeader = "# Copyright (c) 2026 The Ferry Authors. All rights reserved.\n# Use of this source code is governed by a BSD-style licence that can be\n# found in the LICENSE file.\n"
)

// header returns the header a file at path must start with, or "" for a
// file that is not source.
func header(path string) string {
	switch {
	case strings.HasSuffix(path, ".go"), strings.HasSuffix(path, ".s"), strings.HasSuffix(path, ".h"):
		return goHeader
	case strings.HasSuffix(path, ".sh"), path == "Makefile", path == filepath.Join("guest", "init"):
		return shHeader
	}
	return ""
}

func TestLicenceHeaders(t *testing.T) {
	root := filepath.Join("..", "..")
	if _, err := os.Stat(filepath.Join(root, "LICENSE")); err != nil {
		t.Fatalf("no LICENSE at the root: %v", err)
	}
	n := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if d.IsDir() {
			if name := d.Name(); rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "build") {
				return filepath.SkipDir
			}
			return nil
		}
		want := header(rel)
		if want == "" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := string(data)
		if strings.HasPrefix(s, "#!") {
			s = s[strings.IndexByte(s, '\n')+1:]
		}
		if !strings.HasPrefix(s, want) {
			t.Errorf("%s: no licence header", rel)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n < 100 {
		t.Fatalf("only %d source files found under %s", n, root)
	}
}
