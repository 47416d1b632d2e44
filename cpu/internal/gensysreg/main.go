// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command gensysreg writes the cpu package's system-register accessors
// (sysreg_arm64.s, sysreg_arm64.go, sysreg_arm64.h) from the table in cpu/internal/sysregtab.
// It runs from `go generate` in the cpu package directory.
package main

import (
	"log"
	"os"

	"github.com/ferry-hv/ferry/cpu/internal/sysregtab"
)

func main() {
	asm, decl := sysregtab.Render(sysregtab.SysRegs)
	if err := os.WriteFile(sysregtab.AsmFile, asm, 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(sysregtab.HeaderFile, sysregtab.RenderHeader(sysregtab.SysRegs, sysregtab.SysInsns), 0o644); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(sysregtab.DeclFile, decl, 0o644); err != nil {
		log.Fatal(err)
	}
}
