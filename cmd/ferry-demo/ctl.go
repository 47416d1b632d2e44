// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// ctl runs ferryctl on the demo's management link.
type ctl struct {
	bin, sw, keys string
}

// run runs ferryctl with args after the global flags; the error carries
// ferryctl's own last word when it fails.
func (c ctl) run(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, c.bin, append([]string{"-switch", c.sw, "-keys", c.keys, "-mtu", "65510"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := qemu.StartChild(cmd); err != nil {
		return "", err
	}
	if err := cmd.Wait(); err != nil {
		last := lastLine(stderr.String())
		if !strings.HasPrefix(last, "ferryctl ") {
			last = "ferryctl " + args[0] + ": " + last
		}
		return stdout.String(), fmt.Errorf("%s (%v)", last, err)
	}
	return stdout.String(), nil
}

// lastLine is the last non-empty line of s, progress-bar redraws (\r)
// dropped.
func lastLine(s string) string {
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			return l
		}
	}
	return "(nothing on its stderr)"
}

func (c ctl) statusJSON(ctx context.Context, args ...string) (api.Status, error) {
	out, err := c.run(ctx, args...)
	if err != nil {
		return api.Status{}, err
	}
	var st api.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		return api.Status{}, fmt.Errorf("ferryctl %s: bad status %q: %v", args[0], out, err)
	}
	return st, nil
}

// wait asks addr for its status until it answers (up to 3 minutes).
func (c ctl) wait(ctx context.Context, addr string) (api.Status, error) {
	return c.statusJSON(ctx, "wait", "-json", "-timeout", "3m", addr)
}

// status asks addr for its status once.
func (c ctl) status(ctx context.Context, addr string) (api.Status, error) {
	return c.statusJSON(ctx, "status", "-json", addr)
}

// migrate moves the guest from one board to another and returns ferryctl's
// report.
func (c ctl) migrate(ctx context.Context, from, to string) (string, error) {
	return c.run(ctx, "migrate", from, to)
}
