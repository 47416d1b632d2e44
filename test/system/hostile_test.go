// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/api"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// Four stations on the management link, each with an address of its own
// and no key at all, flood both boards for the whole of a real migration:
// every one keeps silent connections open to both ports of both boards,
// re-opening each as soon as a board drops it, and at the start pours
// junk into more. The operator (known to the boards: it asked for status
// before) still gets through, the migration goes through (the source's
// address was in the announcement, the destination's in the request),
// the destination's heap stays bounded, and both boards answer after.
func TestHostileConnections(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", guestArgs)
	b := l.board("b", "10.77.0.12", "52:54:00:77:00:12", "")
	expect(t, a, counterT.String(), 0, bootTimeout)
	before := l.heap(t, "10.77.0.12")
	l.heap(t, "10.77.0.11")

	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	var evil []*hostnet.Net
	for i := range 4 {
		n, err := hostnet.Join(ctx, hostnet.Config{Switch: l.switch_, Addr: netip.MustParsePrefix(fmt.Sprintf("10.77.0.%d/24", 66+i)), MTU: 65510, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		defer n.Close()
		evil = append(evil, n)
	}
	targets := []string{"10.77.0.11:7000", "10.77.0.11:7001", "10.77.0.12:7000", "10.77.0.12:7001"}
	var opened, held atomic.Int64
	var mu sync.Mutex
	var conns []net.Conn
	junk := func(n *hostnet.Net, to string) {
		c, err := n.Dial(ctx, to)
		if err != nil {
			return // refused or reset: that is the defence
		}
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		c.SetWriteDeadline(time.Now().Add(2 * time.Second))
		c.Write(make([]byte, 1<<20)) // as much as the board takes
	}
	for _, n := range evil {
		for _, to := range targets {
			for range 5 {
				junk(n, to)
			}
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, n := range evil {
		for _, to := range targets {
			for range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						select {
						case <-stop:
							return
						default:
						}
						c, err := n.Dial(ctx, to)
						if err != nil {
							time.Sleep(200 * time.Millisecond)
							continue
						}
						opened.Add(1)
						go func() { <-stop; c.Close() }()
						start := time.Now()
						io.Copy(io.Discard, c) // silent until the board drops it
						c.Close()
						if time.Since(start) > time.Second {
							held.Add(1) // it held a slot until its deadline: again at once
						} else {
							time.Sleep(200 * time.Millisecond) // refused at once: try again soon
						}
					}
				}()
			}
		}
	}
	defer func() {
		close(stop)
		wg.Wait()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	}()
	time.Sleep(5 * time.Second) // the flood holds every slot it can
	during := l.heap(t, "10.77.0.12")

	start := time.Now()
	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12")
	if err != nil || !regexp.MustCompile(`(?m)^migration +ok`).MatchString(out) {
		t.Fatalf("a real migration during the flood: %v", err)
	}
	took := time.Since(start)
	_, recv := expect(t, b, `ferry: guest received from a`, 0, time.Minute)
	expect(t, b, counterT.String(), recv, 30*time.Second)
	after := l.heap(t, "10.77.0.12")
	l.heap(t, "10.77.0.11")
	t.Logf("%d silent connections opened from %d addresses (%d held a slot until dropped), %d junk ones; migration in %v under the flood",
		opened.Load(), len(evil), held.Load(), len(conns), took.Round(time.Millisecond))
	t.Logf("destination heap: %d MiB before, %d MiB during the flood, %d MiB after the migration",
		before>>20, during>>20, after>>20)
	if opened.Load() < 100 {
		t.Fatalf("the flood opened only %d connections", opened.Load())
	}
	// The carve-out is 128 MiB; the heap must stay far from it.
	if during > 48<<20 || during > before+32<<20 {
		t.Fatalf("the flood grew the destination's heap from %d to %d bytes", before, during)
	}
	for _, p := range []*qemu.Process{a, b} {
		for _, ln := range p.Lines() {
			if strings.Contains(ln.Text, "FATAL") || strings.Contains(ln.Text, "out of memory") {
				t.Fatalf("console: %q", ln.Text)
			}
		}
	}
}

// heap asks a board for its heap in use.
func (l *link) heap(t *testing.T, board string) uint64 {
	t.Helper()
	out, err := l.ferryctl("", "status", "-json", board)
	if err != nil {
		t.Fatalf("status %s: %v", board, err)
	}
	var st api.Status
	if i := strings.Index(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &st) != nil || st.Heap == 0 {
		t.Fatalf("status %s: no heap in %q", board, out)
	}
	return st.Heap
}

// A station floods the management link with frames for the board (as
// many as the switch takes: UDP to a closed port, which the board's
// netstack must read and answer): Ferry gives its NIC at most its share
// of the CPU, and the guest's 10 ms heartbeat keeps most of its rate
// (before Ferry bounded its share: none of it, 0 lines in 6 s against
// 36/s before the flood).
func TestFloodKeepsGuestRunning(t *testing.T) {
	const floodRate = 20000 // frames a second
	l := newLink(t)
	const mac = "52:54:00:77:00:11"
	// A 1 MiB pattern: its hash every 5 s costs the guest little, so the
	// heartbeat's rate is the guest's share of the CPU.
	a := l.board("a", "10.77.0.11", mac, "quiet guest.mode=migrate guest.pattern_mb=1 guest.hb=1")
	_, i := expect(t, a, counterT.String(), 0, bootTimeout)
	for range 3 { // settled
		_, i = expect(t, a, counterT.String(), i+1, 30*time.Second)
	}
	l.ferryctl("", "status", "10.77.0.11") // the switch has heard the board

	const window = 6 * time.Second
	before0 := time.Now()
	time.Sleep(window)
	before1 := time.Now()

	port := func() l2switch.PortStats {
		hw, _ := net.ParseMAC(mac)
		id, _ := l.sw.Lookup(l2switch.MAC(hw))
		for _, p := range l.sw.Stats().Ports {
			if p.ID == id {
				return p
			}
		}
		t.Fatalf("no switch port has %s", mac)
		return l2switch.PortStats{}
	}
	took0, dropped0 := port().TxFrames, port().Dropped
	c, err := net.Dial("tcp", l.switch_)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	frame := udpFrame(t, mac, "52:54:00:77:00:99", "10.77.0.99", "10.77.0.11", 1400)
	var sent atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		// 20 000 frames a second: several times what the board can read
		// with the whole CPU, without spending the host's CPU (which the
		// board's QEMU needs) on frames the switch would only drop.
		batch := bytes.Repeat(l2switch.AppendFrame(nil, frame), floodRate/100)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c.SetWriteDeadline(time.Now().Add(time.Second))
			if _, err := c.Write(batch); err != nil {
				return
			}
			sent.Add(floodRate / 100)
		}
	}()
	time.Sleep(time.Second) // the flood under way
	during0 := time.Now()
	out, serr := l.ferryctl("", "status", "10.77.0.11")
	time.Sleep(window - time.Since(during0))
	during1 := time.Now()
	close(stop)
	<-done
	flood := during1.Sub(before1)
	took1, dropped := port().TxFrames, port().Dropped-dropped0

	rate := func(from, to time.Time) float64 {
		n := 0
		for _, ln := range a.Lines() {
			if strings.HasPrefix(ln.Text, "FERRY-HB ") && !ln.At.Before(from) && ln.At.Before(to) {
				n++
			}
		}
		return float64(n) / to.Sub(from).Seconds()
	}
	rb, rd := rate(before0, before1), rate(during0, during1)
	t.Logf("flood: %d frames of %d bytes in %v (%.0f/s); guest heartbeat %.1f/s before, %.1f/s during the flood (%.0f%%)",
		sent.Load(), len(frame), flood.Round(time.Millisecond), float64(sent.Load())/flood.Seconds(), rb, rd, 100*rd/rb)
	if rb < 10 {
		t.Fatalf("the heartbeat ran at %.1f/s before the flood", rb)
	}
	if sent.Load() < 10000 {
		t.Fatalf("only %d frames flooded", sent.Load())
	}
	// Frames to the board beyond what it reads are dropped at the
	// switch, ferryctl's among them: status during the flood is told, not
	// asserted; after it the board must answer.
	t.Logf("status during the flood: %v; the switch handed the board %d frames (%.0f/s) and dropped %d",
		serr == nil && strings.Contains(out, "running"), took1-took0, float64(took1-took0)/flood.Seconds(), dropped)
	for start := time.Now(); ; time.Sleep(2 * time.Second) {
		out, err := l.ferryctl("", "status", "10.77.0.11")
		if err == nil && strings.Contains(out, "running") {
			t.Logf("status answered %v after the flood", time.Since(start).Round(time.Millisecond))
			break
		}
		if time.Since(start) > 30*time.Second {
			t.Fatalf("status after the flood: %v", err)
		}
	}
	if rd < rb/2 {
		t.Fatalf("the flood starved the guest: heartbeat %.1f/s during, %.1f/s before", rd, rb)
	}
}

// udpFrame is an Ethernet frame carrying an IPv4 UDP datagram of n bytes
// of payload to port 9 (discard: nothing listens on the board).
func udpFrame(t *testing.T, dst, src, from, to string, n int) []byte {
	t.Helper()
	dm, _ := net.ParseMAC(dst)
	sm, _ := net.ParseMAC(src)
	f := append(append(append([]byte(nil), dm...), sm...), 0x08, 0x00)
	ip := make([]byte, 20+8+n)
	ip[0], ip[8], ip[9] = 0x45, 64, 17
	binary.BigEndian.PutUint16(ip[2:], uint16(len(ip)))
	copy(ip[12:16], net.ParseIP(from).To4())
	copy(ip[16:20], net.ParseIP(to).To4())
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	binary.BigEndian.PutUint16(ip[20:], 40000) // source port
	binary.BigEndian.PutUint16(ip[22:], 9)
	binary.BigEndian.PutUint16(ip[24:], uint16(8+n)) // checksum 0: none
	return append(f, ip...)
}
