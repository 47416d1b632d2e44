// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/ferry-hv/ferry/internal/echostream"
	"github.com/ferry-hv/ferry/internal/hostnet"
)

// The data segment: the guest's own NIC, on a switch of its own, and a
// client there that talks to the guest's TCP echo service (port 7) before,
// during and after the move.
const (
	guestDataIP    = "10.88.0.10"
	guestDataMAC   = "52:54:00:88:00:10"
	clientDataAddr = "10.88.0.2"
	clientDataIP   = clientDataAddr + "/24"
	clientRate     = 256 << 10 // bytes a second the client sends
	// echoWithin is how long after the guest is running its echo service
	// has to answer. A guest that has none (the user's own) is moved all
	// the same, without the client.
	echoWithin = 45 * time.Second
)

// errNoEcho is a guest whose echo service did not answer in time.
var errNoEcho = errors.New("the guest's echo service did not answer")

// client is the client's stream through the guest's echo service.
type client struct {
	net *hostnet.Net
	s   *echostream.Stream
}

// dialEcho joins the data segment and connects to the guest's echo
// service, trying until deadline (the service starts with the guest); a
// guest that has not answered by then is errNoEcho.
func dialEcho(ctx context.Context, sw string, deadline time.Time) (*client, error) {
	n, err := hostnet.Join(ctx, hostnet.Config{Switch: sw, Addr: netip.MustParsePrefix(clientDataIP), MTU: 1500,
		Logf: func(string, ...any) {}})
	if err != nil {
		return nil, err
	}
	for {
		dctx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(5*time.Second)))
		c, err := n.Dial(dctx, guestDataIP+":7")
		cancel()
		if err == nil {
			return &client{net: n, s: echostream.Start(c, clientRate)}, nil
		}
		if ctx.Err() != nil {
			n.Close()
			return nil, ctx.Err()
		}
		if !time.Now().Add(time.Second).Before(deadline) {
			n.Close()
			return nil, fmt.Errorf("%w at %s:7 (%v)", errNoEcho, guestDataIP, err)
		}
		select {
		case <-time.After(time.Second):
		case <-ctx.Done():
		}
	}
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

// dialing is a dial of the guest's echo service under way while the
// guest settles.
type dialing struct {
	done chan struct{}
	c    *client
	err  error
}

// startDial starts dialEcho; the dial gives up at deadline.
func startDial(ctx context.Context, sw string, deadline time.Time) *dialing {
	d := &dialing{done: make(chan struct{})}
	go func() {
		defer close(d.done)
		d.c, d.err = dialEcho(ctx, sw, deadline)
	}()
	return d
}

// client waits for the dial to end: its client, or nil with the line that
// says why the client was left out (a guest without an echo service), or
// an error the demo stops on (the data segment could not be joined).
func (d *dialing) client() (*client, string, error) {
	<-d.done
	switch {
	case d.err == nil:
		return d.c, "", nil
	case errors.Is(d.err, errNoEcho):
		return nil, fmt.Sprintf("%v within %v of the guest running: the guest is moved without the client (for a guest with no echo service: DEMO_FLAGS=-data=false)", d.err, echoWithin), nil
	}
	return nil, "", d.err
}

// report prints a line a second until ctx ends.
func (c *client) report(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	prev := int64(0)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		got := c.s.Got()
		prefixed("[client]").Write([]byte(fmt.Sprintf("%s -> %s:7: %.2f MiB echoed back in order, %d KiB in the last second\n",
			clientDataAddr, guestDataIP, float64(got)/(1<<20), (got-prev)>>10)))
		prev = got
	}
}

// finish stops sending, waits for the last bytes and says how it went.
func (c *client) finish() (string, error) {
	defer c.net.Close()
	if err := c.s.Finish(30 * time.Second); err != nil {
		return "", fmt.Errorf("the client's TCP stream to the guest: %w", err)
	}
	stall, _ := c.s.Stall()
	st := c.net.Stats()
	return fmt.Sprintf("the client's TCP stream to the guest never broke: %d bytes sent and echoed back in order, the longest wait for an echo %v (the client sent %d segments again, %d after a retransmission timeout)",
		c.s.Got(), stall.Round(time.Millisecond), st.Retransmits, st.Timeouts), nil
}
