// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package system holds Ferry's system tests: the real image under QEMU with
// a real arm64 Linux guest. They run when FERRY_SYSTEM=1 (make test sets it
// after building the image and the guest) and are skipped otherwise, so a
// plain `go test ./...` stays a fast host-only run.
package system

import (
	"context"
	"os"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/qemu"
)

// bootTimeout bounds a boot to userspace under TCG on a busy 2-core machine.
const bootTimeout = 120 * time.Second

func artefact(t *testing.T, env, def string) string {
	t.Helper()
	p := os.Getenv(env)
	if p == "" {
		p = def
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatalf("%s: %v (run make image guest)", env, err)
	}
	return p
}

// board returns a board running the built guest, with Ferry unless native:
// the board a real board's firmware leaves (GIC security states, PSCI
// over SMC to EL3) with Ferry's arm64 Image booted by QEMU's Linux loader
// at EL2, or with FERRY_INSECURE=1 the board without security states and
// Ferry's ELF.
func board(t *testing.T, native bool, appendArgs string) qemu.Board {
	t.Helper()
	if os.Getenv("FERRY_SYSTEM") != "1" {
		t.Skip("system test: set FERRY_SYSTEM=1 (make test does)")
	}
	b := qemu.Board{
		QEMU:   "qemu-system-aarch64",
		CPU:    envOr("FERRY_CPU", "max,pauth-impdef=on"),
		Memory: envOr("FERRY_MEM", "1G"),
		Kernel: artefact(t, "FERRY_KERNEL", "../../build/guest/Image"),
		Initrd: artefact(t, "FERRY_INITRD", "../../build/guest/initrd.cpio.gz"),
		Append: "console=ttyAMA0 " + appendArgs,
	}
	b.Insecure = os.Getenv("FERRY_INSECURE") == "1"
	if !native && b.Insecure {
		b.Image = artefact(t, "FERRY_ELF", "../../build/ferry.elf")
	} else if !native {
		b.Image = artefact(t, "FERRY_IMAGE", "../../build/ferry.img")
	}
	return b
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// start starts b, logs its console into the test log and stops it at the
// end of the test.
func start(t *testing.T, b qemu.Board) *qemu.Process {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p, err := b.Start(ctx, testWriter{t})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Kill(); cancel() })
	return p
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Logf("console: %s", b[:len(b)-1])
	return len(b), nil
}

func expect(t *testing.T, p *qemu.Process, re string, from int, timeout time.Duration) (qemu.Line, int) {
	t.Helper()
	l, i, err := p.Expect(regexp.MustCompile(re), from, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return l, i
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
