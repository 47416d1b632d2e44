package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

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
	clientChunk    = 4096
	dialWithin     = 2 * time.Minute
)

// client streams numbered bytes through the guest's echo service and
// checks every byte that comes back.
type client struct {
	net       *hostnet.Net
	c         net.Conn
	sent, got atomic.Int64
	stop      atomic.Bool
	wrote     chan struct{} // closed when the writer has stopped
	read      chan struct{} // closed when the reader has stopped

	mu         sync.Mutex
	err        error
	last       time.Time
	stall      time.Duration
	stallUntil time.Time
}

// byteAt is the stream's byte i: a lost, repeated or reordered byte shows.
func byteAt(i int64) byte { return byte(i * 7 % 251) }

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
			cl := &client{net: n, c: c, last: time.Now(), wrote: make(chan struct{}), read: make(chan struct{})}
			go cl.write()
			go cl.receive()
			return cl, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			n.Close()
			return nil, fmt.Errorf("the guest's echo service at %s:7 did not answer within %v (%v); a guest without one: -data=false", guestDataIP, dialWithin, err)
		}
		time.Sleep(time.Second)
	}
}

func (c *client) fail(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.err = err
	}
}

func (c *client) write() {
	defer close(c.wrote)
	t := time.NewTicker(time.Second * clientChunk / clientRate)
	defer t.Stop()
	buf := make([]byte, clientChunk)
	for range t.C {
		if c.stop.Load() {
			return
		}
		from := c.sent.Load()
		for i := range buf {
			buf[i] = byteAt(from + int64(i))
		}
		c.c.SetWriteDeadline(time.Now().Add(time.Minute))
		if _, err := c.c.Write(buf); err != nil {
			c.fail(fmt.Errorf("sending byte %d: %w", from, err))
			return
		}
		c.sent.Add(clientChunk)
	}
}

func (c *client) receive() {
	defer close(c.read)
	buf := make([]byte, 64<<10)
	for {
		c.c.SetReadDeadline(time.Now().Add(time.Minute))
		n, err := c.c.Read(buf)
		now := time.Now()
		from := c.got.Load()
		for i := range n {
			if buf[i] != byteAt(from+int64(i)) {
				c.fail(fmt.Errorf("the echo differs at byte %d: lost, repeated or reordered", from+int64(i)))
				return
			}
		}
		if n > 0 {
			c.mu.Lock()
			if d := now.Sub(c.last); d > c.stall {
				c.stall, c.stallUntil = d, now
			}
			c.last = now
			c.mu.Unlock()
			c.got.Add(int64(n))
		}
		if err != nil {
			if !c.stop.Load() || c.got.Load() != c.sent.Load() {
				c.fail(fmt.Errorf("receiving byte %d: %w", c.got.Load(), err))
			}
			return
		}
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
		got := c.got.Load()
		prefixed("[client]").Write([]byte(fmt.Sprintf("%s -> %s:7: %.2f MiB echoed back in order, %d KiB in the last second\n",
			clientDataAddr, guestDataIP, float64(got)/(1<<20), (got-prev)>>10)))
		prev = got
	}
}

// finish stops sending, waits for the last bytes and says how it went.
func (c *client) finish() (string, error) {
	defer c.net.Close()
	defer c.c.Close()
	c.stop.Store(true)
	<-c.wrote // at its next tick, or at once if it failed
	// Every byte sent must come back before the connection is closed
	// (which ends the reader).
	for deadline := time.Now().Add(30 * time.Second); c.got.Load() != c.sent.Load(); time.Sleep(50 * time.Millisecond) {
		select {
		case <-c.read:
			deadline = time.Time{} // the reader stopped: it says why
		default:
		}
		if time.Now().After(deadline) {
			c.fail(fmt.Errorf("the last bytes did not come back: sent %d, %d echoed", c.sent.Load(), c.got.Load()))
			break
		}
	}
	c.c.Close()
	<-c.read
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return "", fmt.Errorf("the client's TCP stream to the guest: %w", c.err)
	}
	return fmt.Sprintf("the client's TCP stream to the guest never broke: %d bytes sent and echoed back in order, the longest wait for an echo %v",
		c.got.Load(), c.stall.Round(time.Millisecond)), nil
}
