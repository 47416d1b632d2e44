// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"io"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/l2switch"
)

// segment starts a data segment on 127.0.0.1 and, if station, a station
// at the guest's address on it (serving echo on port 7 if echo).
func segment(t *testing.T, station, echo bool) string {
	t.Helper()
	sw, addr, err := l2switch.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	if !station {
		return addr
	}
	n, err := hostnet.Join(context.Background(), hostnet.Config{Switch: addr,
		Addr: netip.MustParsePrefix(guestDataIP + "/24"), MTU: 1500, Logf: func(string, ...any) {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	if echo {
		ln, err := n.Listen(7)
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				go io.Copy(c, c)
			}
		}()
	}
	return addr
}

// A guest with no echo service -- nobody at its address, or an address
// that refuses port 7 -- is left out by the deadline, with a line saying
// so, and the demo goes on; a guest with one gets its client.
func TestDialLeavesOutAGuestWithoutEcho(t *testing.T) {
	for _, tc := range []struct {
		name          string
		station, echo bool
	}{{"nobody there", false, false}, {"port 7 closed", true, false}, {"echo service", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			sw := segment(t, tc.station, tc.echo)
			start := time.Now()
			d := startDial(context.Background(), sw, start.Add(3*time.Second))
			cl, note, err := d.client()
			took := time.Since(start)
			if err != nil {
				t.Fatalf("an error the demo would stop on: %v", err)
			}
			if took > 6*time.Second {
				t.Fatalf("the dial took %v, past its 3 s deadline", took)
			}
			if tc.echo {
				if cl == nil {
					t.Fatalf("no client for a guest with an echo service: %s", note)
				}
				cl.s.Finish(time.Second)
				cl.net.Close()
				return
			}
			if cl != nil {
				t.Fatal("a client for a guest with no echo service")
			}
			if !strings.Contains(note, "moved without the client") {
				t.Fatalf("the line says %q", note)
			}
		})
	}
}
