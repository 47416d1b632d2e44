package main

import (
	"context"
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
	dialWithin     = 2 * time.Minute
)

// client is the client's stream through the guest's echo service.
type client struct {
	net *hostnet.Net
	s   *echostream.Stream
}

// dialEcho joins the data segment and connects to the guest's echo
// service, trying until dialWithin (the service starts with the guest).
func dialEcho(ctx context.Context, sw string) (*client, error) {
	n, err := hostnet.Join(ctx, hostnet.Config{Switch: sw, Addr: netip.MustParsePrefix(clientDataIP), MTU: 1500,
		Logf: func(string, ...any) {}})
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(dialWithin)
	for {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := n.Dial(dctx, guestDataIP+":7")
		cancel()
		if err == nil {
			return &client{net: n, s: echostream.Start(c, clientRate)}, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.Close()
			return nil, fmt.Errorf("the guest's echo service at %s:7 did not answer within %v (%v); a guest without one: -data=false", guestDataIP, dialWithin, err)
		}
		time.Sleep(time.Second)
	}
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
