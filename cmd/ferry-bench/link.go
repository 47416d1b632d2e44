// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"time"

	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// LinkResult is the raw throughput of the management link: TCP between
// two boards running cmd/ferry-nettest (no TLS, no migration), through
// the same ferry-switch the migration uses.
type LinkResult struct {
	MiBs  float64 `json:"mib_s"`
	MiB   int     `json:"mib"`
	MTU   int     `json:"mtu"`
	Error string  `json:"error,omitempty"` // why it was not measured
}

var linkResult = regexp.MustCompile(`RESULT mtu=(\d+) mib=(\d+) seconds=([0-9.]+)`)

// parseLinkResult reads the client's RESULT line.
func parseLinkResult(line string) (LinkResult, bool) {
	m := linkResult.FindStringSubmatch(line)
	if m == nil {
		return LinkResult{}, false
	}
	var r LinkResult
	r.MTU, _ = strconv.Atoi(m[1])
	r.MiB, _ = strconv.Atoi(m[2])
	s, _ := strconv.ParseFloat(m[3], 64)
	if s <= 0 {
		return LinkResult{}, false
	}
	r.MiBs = float64(r.MiB) / s
	return r, true
}

// measureLink sends mib MiB from one nettest board to another.
func measureLink(base qemu.Board, image string, mib int) LinkResult {
	fail := func(err error) LinkResult { return LinkResult{MiB: mib, Error: err.Error()} }
	if _, err := os.Stat(image); err != nil {
		return fail(fmt.Errorf("no nettest image (make bench builds it): %w", err))
	}
	sw, swAddr, err := l2switch.Start()
	if err != nil {
		return fail(err)
	}
	defer sw.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	board := func(mac, words string) (*qemu.Process, error) {
		b := base
		b.Image, b.Kernel, b.Initrd, b.Switch, b.Memory = image, "", "", "", "512M"
		// nettest is an ELF, which QEMU enters at EL2 only on the board
		// without security states; the link does not depend on them.
		b.Insecure = true
		// Started like Ferry in the receive role (no guest, an empty
		// -append); the NIC and nettest's words come after it (QEMU takes
		// the last -append).
		b.Extra = []string{"-global", "virtio-mmio.force-legacy=false",
			"-netdev", "socket,id=m,connect=" + swAddr,
			"-device", "virtio-net-device,netdev=m,mac=" + mac, "-append", words}
		return b.Start(ctx, nil)
	}
	srv, err := board("52:54:00:77:00:21", "ferry.ip=10.77.0.21/24 ferry.nettest=server,1")
	if err != nil {
		return fail(err)
	}
	defer srv.Kill()
	time.Sleep(2 * time.Second)
	cli, err := board("52:54:00:77:00:22", fmt.Sprintf("ferry.ip=10.77.0.22/24 ferry.nettest=client,10.77.0.21 ferry.nettest.mib=%d", mib))
	if err != nil {
		return fail(err)
	}
	defer cli.Kill()
	l, _, err := cli.Expect(linkResult, 0, 5*time.Minute)
	if err != nil {
		return fail(err)
	}
	r, _ := parseLinkResult(l.Text)
	return r
}
