// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package system

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/netip"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/internal/echostream"
	"github.com/ferry-hv/ferry/internal/hostnet"
	"github.com/ferry-hv/ferry/internal/l2switch"
	"github.com/ferry-hv/ferry/internal/qemu"
)

// The data segment: the guests' own network, a switch on 127.0.0.1
// separate from the management link, and a client on it.
const (
	guestIP   = "10.88.0.10"
	guestMAC  = "52:54:00:88:00:10" // the guest's, on every board it runs on
	clientIP  = "10.88.0.2/24"
	echoPort  = "7"
	dataBytes = 1 << 20
	// carveOutBase is the start of Ferry's carve-out on QEMU's board: its
	// image, at the base of RAM ("carve-out [0x40000000, 0x48000000)").
	carveOutBase = "0x40000000"
	carveOutWide = "0x40002000" // guest/dma's third target: carveOutBase+0x2000
)

// dataSegment starts the data switch and returns its address and a
// function that gives a board the guest's NIC on it.
func dataSegment(t *testing.T) (string, func(*qemu.Board)) {
	t.Helper()
	sw, addr, err := l2switch.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sw.Close() })
	return addr, func(b *qemu.Board) { b.DataSwitch, b.DataMAC = addr, guestMAC }
}

// dialEcho joins the data segment at data as the client and connects to
// the guest's echo service; both end with the test.
func dialEcho(t *testing.T, data string, within time.Duration) net.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	client, err := hostnet.Join(ctx, hostnet.Config{Switch: data, Addr: netip.MustParsePrefix(clientIP), MTU: 1500})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	c, err := client.Dial(ctx, guestIP+":"+echoPort)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// numbered is n bytes of the client's stream from byte from
// (echostream's: a lost, duplicated or reordered byte shows).
func numbered(from, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = echostream.Byte(int64(from + i))
	}
	return b
}

// The guest's own NIC on its own segment, its transport behind Ferry's
// model: a client there reaches the guest's TCP echo service, and every
// byte comes back in order.
func TestGuestNetworkEcho(t *testing.T) {
	l := newLink(t)
	data, nic := dataSegment(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=counter guest.ip="+guestIP+"/24", nic)
	expect(t, a, `ferry: machine: /virtio_mmio@a003c00 trapped: the guest's NIC`, 0, bootTimeout)
	// Ferry's model of the transport saw the guest's driver set it up.
	expect(t, a, `ferry: guest NIC at 0xa003c00: driver ready: features 0x[0-9a-f]+, [23] queues`, 0, bootTimeout)
	expect(t, a, `^FERRY-GUEST: eth0 up `+guestIP+`/24 mac=`+guestMAC, 0, bootTimeout)
	expect(t, a, `^FERRY-ECHO up port=7`, 0, 30*time.Second)

	c := dialEcho(t, data, time.Minute)
	c.SetDeadline(time.Now().Add(time.Minute))
	want := numbered(0, dataBytes)
	start := time.Now()
	go c.Write(want)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatalf("echo: %v", err)
	}
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && got[i] == want[i] {
			i++
		}
		t.Fatalf("echo differs from byte %d", i)
	}
	t.Logf("%d bytes echoed by the guest in %v (%.1f MiB/s both ways)", len(want), time.Since(start).Round(time.Millisecond),
		float64(len(want))/time.Since(start).Seconds()/(1<<20))
}

// A hostile driver in the guest programs its NIC's transport through
// /dev/mem to point the device at Ferry's carve-out: its rings, then a
// transmit buffer (the device would send Ferry's memory out on the
// wire). Ferry refuses both before the device sees them and says so, and
// goes on: its API answers, the guest runs on.
func TestGuestNICRefusedIntoCarveOut(t *testing.T) {
	l := newLink(t)
	_, nic := dataSegment(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=dma guest.dma_target="+carveOutBase, nic)
	expect(t, a, `ferry: guest NIC at 0xa003c00: queue 1 refused: its descriptor table \[`+carveOutBase+`\+0x80\] is not in guest RAM`, 0, bootTimeout)
	expect(t, a, `^FERRY-DMA rings-in-target ready=0`, 0, bootTimeout)
	expect(t, a, `ferry: guest NIC at 0xa003c00: queue 1 stopped: virtq: a buffer outside guest RAM: \[`+carveOutBase+`\+0x1000\]`, 0, bootTimeout)
	expect(t, a, `^FERRY-DMA buffer-in-target ready=1 used=0`, 0, bootTimeout)
	// The same with 64-bit stores (QEMU splits each in two 32-bit
	// register writes): the model sees both halves, the device gets the
	// shadow, and the buffer is refused.
	expect(t, a, `ferry: guest NIC at 0xa003c00: queue 1 stopped: virtq: a buffer outside guest RAM: \[`+carveOutWide+`\+0x1000\]`, 0, bootTimeout)
	expect(t, a, `^FERRY-DMA wide ready=1 used=0`, 0, bootTimeout)
	_, done := expect(t, a, `^FERRY-DMA done`, 0, bootTimeout)
	expect(t, a, counterT.String(), done, 30*time.Second)
	out, err := l.ferryctl("", "status", "10.77.0.11")
	if err != nil || !regexp.MustCompile(`guest +running`).MatchString(out) {
		t.Fatalf("status after the attack: %v\n%s", err, out)
	}
	// The operator sees both refusals in the board's status.
	for _, want := range []string{`nic fault +0xa003c00: queue 1 refused: its descriptor table`, `nic fault +0xa003c00: queue 1 stopped: virtq: a buffer outside guest RAM`} {
		if !regexp.MustCompile(want).MatchString(out) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
	for _, ln := range a.Lines() {
		if strings.Contains(ln.Text, "FERRY-DMA BAD") || strings.Contains(ln.Text, "panic") {
			t.Fatalf("console: %q", ln.Text)
		}
	}

	// Natively the same driver has its way: the device takes both (there
	// the address is the guest's own RAM, and its NIC the last transport).
	n := board(t, true, "quiet guest.mode=dma guest.dma_nic=0xa003e00 guest.dma_target="+carveOutBase)
	nic(&n)
	p := start(t, n)
	expect(t, p, `^FERRY-DMA rings-in-target ready=1`, 0, bootTimeout)
	expect(t, p, `^FERRY-DMA buffer-in-target ready=1 used=1`, 0, bootTimeout)
	expect(t, p, `^FERRY-DMA wide ready=1 used=1`, 0, bootTimeout)
}

// A board whose guest NIC has another MAC cannot take the guest: its
// driver keeps the MAC it read at boot, and the destination's device
// would filter its frames out. The migration is refused at the handshake,
// naming the MACs, and the guest runs on.
func TestGuestNICOtherMACRefused(t *testing.T) {
	l := newLink(t)
	_, nic := dataSegment(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=counter guest.ip="+guestIP+"/24", nic)
	l.board("b", "10.77.0.12", "52:54:00:77:00:12", "", nic, func(b *qemu.Board) { b.DataMAC = "52:54:00:88:00:99" })
	expect(t, a, `^FERRY-ECHO up port=7`, 0, bootTimeout)
	out, err := l.ferryctl("", "migrate", "10.77.0.11", "10.77.0.12")
	if err == nil || !strings.Contains(out, "virtio-net@0xa003c00:mac=52:54:00:88:00:10") || !strings.Contains(out, "virtio-net@0xa003c00:mac=52:54:00:88:00:99") {
		t.Fatalf("migrate to a board with another MAC: %v\n%s", err, out)
	}
	expect(t, a, counterT.String(), len(a.Lines()), 30*time.Second) // it runs on at a
}

// A virtio device Ferry does not relay (here an entropy source, on a
// legacy transport) is hidden from the guest: its DMA would go where the
// guest says.
func TestUnrelayedVirtioHidden(t *testing.T) {
	l := newLink(t)
	a := l.board("a", "10.77.0.11", "52:54:00:77:00:11", "quiet guest.mode=counter", func(b *qemu.Board) {
		b.Extra = append(b.Extra, "-device", "virtio-rng-device")
	})
	expect(t, a, `ferry: machine: /virtio_mmio@a003[0-9a-f]00 hidden: a virtio device Ferry does not relay`, 0, bootTimeout)
	expect(t, a, counterT.String(), 0, bootTimeout)
}
