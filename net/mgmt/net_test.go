// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"io"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/virtionet"
	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

// board is one Ferry: its NIC (a fake device) and its Net.
type board struct {
	fd *fakedev.Device
	n  *Net
}

func newBoard(t *testing.T, last byte, cfg Config) board {
	return newBoardQ(t, last, cfg, 0)
}

// newBoardQ is newBoard with the device's queues capped at qmax entries.
func newBoardQ(t *testing.T, last byte, cfg Config, qmax uint32) board {
	t.Helper()
	mem := fakedev.NewMemory()
	fd := fakedev.New(mem, fakedev.Options{MAC: [6]byte{0x52, 0x54, 0, 0x77, 0, last}, QueueNumMax: qmax})
	tr := dtb.VirtioMMIO{Path: "/virtio_mmio@a003e00", Reg: phys.Range{Base: 0x0a003e00, Size: 0x200}, SPI: 47}
	dev, err := virtionet.New(fd, tr.Reg.Base, mem, virtionet.Options{MTU: cfg.MTU})
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(dev, VirtioNIC(tr), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.Close)
	return board{fd, n}
}

// wire plays QEMU's socket netdev between two boards and polls both, as
// the hypervisor's poll goroutine would, until stop is closed.
func wire(a, b board, stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		default:
		}
		busy := a.n.Poll()
		busy = b.n.Poll() || busy
		for _, f := range a.fd.Transmitted() {
			b.fd.Receive(f)
			busy = true
		}
		for _, f := range b.fd.Transmitted() {
			a.fd.Receive(f)
			busy = true
		}
		a.fd.Flush()
		b.fd.Flush()
		if !busy {
			runtime.Gosched()
			time.Sleep(10 * time.Microsecond)
		}
	}
}

func pair(t *testing.T, mtu int) (a, b board) { return pairQ(t, mtu, 0) }

func pairQ(t *testing.T, mtu int, qmax uint32) (a, b board) {
	a = newBoardQ(t, 0x11, Config{Addr: netip.MustParsePrefix("10.77.0.11/24"), MTU: mtu}, qmax)
	b = newBoardQ(t, 0x12, Config{Addr: netip.MustParsePrefix("10.77.0.12/24"), MTU: mtu}, qmax)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go wire(a, b, stop, &wg)
	t.Cleanup(func() { close(stop); wg.Wait() })
	return a, b
}

// A TCP stream crosses the link whole, in both directions, at several
// MTUs (including one that needs a full 64 KiB receive buffer per frame),
// and with rings so small that most frames wait in the transmit backlog:
// nothing may be dropped.
func TestTCPStream(t *testing.T) {
	for _, tc := range []struct {
		mtu  int
		qmax uint32
	}{{1500, 0}, {9000, 0}, {65535, 0}, {1500, 8}} {
		mtu := tc.mtu
		t.Run(fmt.Sprintf("mtu%d-queue%d", tc.mtu, tc.qmax), func(t *testing.T) {
			a, b := pairQ(t, tc.mtu, tc.qmax)
			const size = 4 << 20
			streamDigest(t, a.n, b.n, "10.77.0.12", size)
			sa, sb := a.n.Stats(), b.n.Stats()
			if sa.TxBytes < size || sb.RxBytes < size || sa.TxDrops+sb.RxDrops != 0 {
				t.Errorf("stats: a %+v, b %+v", sa, sb)
			}
			if mtu == 65535 && sa.TxFrames > 2*size/65000+100 {
				t.Errorf("%d frames for %d bytes: the MTU is not used", sa.TxFrames, size)
			}
			for _, bd := range []board{a, b} {
				for _, v := range bd.fd.Violations() {
					t.Errorf("device reports: %s", v)
				}
			}
		})
	}
}

func TestDialErrors(t *testing.T) {
	a, _ := pair(t, 1500)
	if _, err := a.n.Dial(context.Background(), "10.77.0.12"); err == nil {
		t.Error("dial without port succeeded")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.n.Dial(ctx, "10.77.0.12:9"); err == nil {
		t.Error("dial to a closed port succeeded")
	}
}

func TestTransport(t *testing.T) {
	a := newBoard(t, 0x11, Config{Addr: netip.MustParsePrefix("10.77.0.11/24"), MTU: 1500})
	if tr := a.n.Transport(); tr.Path != "/virtio_mmio@a003e00" || tr.Reg != (phys.Range{Base: 0x0a003e00, Size: 0x200}) {
		t.Errorf("Transport = %+v", tr)
	}
	if a.n.MAC().String() != "52:54:00:77:00:11" || a.n.MTU() != 1500 || a.n.Addr().String() != "10.77.0.11/24" {
		t.Errorf("MAC %v MTU %d Addr %v", a.n.MAC(), a.n.MTU(), a.n.Addr())
	}
}

// streamDigest sends size bytes over TCP from a to to's port 7100 (at
// addr, its address), which answers with their SHA-256: it must be theirs.
func streamDigest(t *testing.T, from, to *Net, addr string, size int) {
	t.Helper()
	l, err := to.Listen(7100, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	data := make([]byte, size)
	for i := range data {
		data[i] = byte(i * 7 / 5)
	}
	want := sha256.Sum256(data)
	done := make(chan error, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- err
			return
		}
		defer c.Close()
		h := sha256.New()
		if _, err := io.Copy(h, c); err != nil {
			done <- err
			return
		}
		_, err = c.Write(h.Sum(nil))
		done <- err
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := from.Dial(ctx, addr+":7100")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := c.Write(data); err != nil {
		t.Fatal(err)
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want[:]) {
		t.Fatalf("peer's digest %x, want %x", got, want)
	}
}
