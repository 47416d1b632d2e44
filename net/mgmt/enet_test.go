// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"bytes"
	"fmt"
	"net"
	"net/netip"
	"os"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/enet"
	"github.com/ferry-hv/ferry/net/enet/fakeenet"
	"github.com/ferry-hv/ferry/phys"
)

// On the EVK's own DTB, Ferry's ENET is ENET1, the FEC at 0x30be0000: its
// four interrupts are SPIs 118-121, its PHY at MDIO address 1 on its own
// bus (so the guest's EQOS, with its own PHY on its own bus, never needs
// the FEC's MDIO), RGMII with the PHY's internal delays.
func TestFindENETOnTheEVK(t *testing.T) {
	blob, err := os.ReadFile("../../boot/imx8mp/testdata/imx8mp-evk.dtb")
	if err != nil {
		t.Fatal(err)
	}
	b, err := dtb.Parse(blob)
	if err != nil {
		t.Fatal(err)
	}
	e, err := FindENET(b.Ethernet, "fsl,imx8mp-fec")
	if err != nil {
		t.Fatal(err)
	}
	want := dtb.Ethernet{Path: "/soc@0/bus@30800000/ethernet@30be0000", Compatible: []string{"fsl,imx8mp-fec", "fsl,imx8mq-fec", "fsl,imx6sx-fec"},
		Reg: phys.Range{Base: 0x30be0000, Size: 0x10000}, SPIs: []uint32{118, 119, 120, 121}, PHYMode: "rgmii-id", PHY: 1, PHYOnOwnBus: true, Enabled: true}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("FindENET:\n got %+v\nwant %+v", e, want)
	}
	if nic := NICOf(e); nic.SPI != 118 || nic.Path != want.Path {
		t.Errorf("NIC %+v", nic)
	}
	eqos := b.Ethernet[ethernetIndex(b.Ethernet, "nxp,imx8mp-dwmac-eqos")]
	if eqos.PHY != 1 || !eqos.PHYOnOwnBus {
		t.Errorf("the EQOS's PHY: address %d, own bus %v: the guest's port would need Ferry's MDIO bus", eqos.PHY, eqos.PHYOnOwnBus)
	}
}

func ethernetIndex(eths []dtb.Ethernet, c string) int {
	for i, e := range eths {
		if e.Is(c) {
			return i
		}
	}
	return -1
}

func TestFindENETRefuses(t *testing.T) {
	ok := dtb.Ethernet{Path: "/e", Compatible: []string{"fsl,imx8mp-fec"}, Reg: phys.Range{Base: 0x30be0000, Size: 0x10000},
		SPIs: []uint32{118}, PHY: 1, PHYOnOwnBus: true, Enabled: true}
	if _, err := FindENET([]dtb.Ethernet{ok}, "fsl,imx8mp-fec"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(*dtb.Ethernet)
		want string
	}{
		{"absent", func(e *dtb.Ethernet) { e.Compatible = []string{"snps,dwmac"} }, "no fsl,imx8mp-fec Ethernet node"},
		{"disabled", func(e *dtb.Ethernet) { e.Enabled = false }, "disabled"},
		{"no SPI", func(e *dtb.Ethernet) { e.SPIs = nil }, "not GIC SPIs"},
		{"small window", func(e *dtb.Ethernet) { e.Reg.Size = 0x100 }, "smaller than"},
		{"shared MDIO bus", func(e *dtb.Ethernet) { e.PHYOnOwnBus = false }, "another MAC's MDIO bus"},
	} {
		e := ok
		tc.edit(&e)
		if _, err := FindENET([]dtb.Ethernet{e}, "fsl,imx8mp-fec"); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// The ENET's MAC address: ferry.mac= over the DTB's; the MTU 1500 unless
// ferry.mtu= says less, never more.
func TestENETOptions(t *testing.T) {
	e := dtb.Ethernet{MAC: net.HardwareAddr{0, 4, 0x9f, 1, 2, 3}, PHY: 1, PHYMode: "rgmii-id"}
	addr := netip.MustParsePrefix("10.77.0.11/24")
	o, err := enetOptions(Config{Addr: addr}, e)
	if err != nil || o.MTU != enet.MTU || !bytes.Equal(o.MAC, e.MAC) || o.PHY != 1 || o.PHYMode != "rgmii-id" {
		t.Errorf("defaults: %+v, %v", o, err)
	}
	o, err = enetOptions(Config{Addr: addr, MAC: "02:fe:00:77:00:11", MTU: 1400}, e)
	if err != nil || o.MAC.String() != "02:fe:00:77:00:11" || o.MTU != 1400 {
		t.Errorf("ferry.mac= and ferry.mtu=: %+v, %v", o, err)
	}
	if _, err := enetOptions(Config{Addr: addr, MTU: 9000}, e); err == nil || !strings.Contains(err.Error(), "at most 1500") {
		t.Errorf("MTU 9000: %v", err)
	}
}

// enetBoard is one Ferry on an ENET (a model of the MAC and PHY).
type enetBoard struct {
	fd *fakeenet.Device
	n  *Net
}

func newENETBoard(t *testing.T, last byte, ring int) enetBoard {
	return newENETBoardWith(t, last, ring, fakeenet.Options{PHY: 1}, nil)
}

func newENETBoardWith(t *testing.T, last byte, ring int, fo fakeenet.Options, now func() time.Time) enetBoard {
	t.Helper()
	mem := make([]byte, 2<<20)
	const base = 0x47e00000
	fd := fakeenet.New(mem, base, fo)
	reg, err := enet.NewRegion(mem, base, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Addr: netip.MustParsePrefix(fmt.Sprintf("10.77.0.%d/24", last)), MAC: fmt.Sprintf("02:fe:00:77:00:%02x", last)}
	e := dtb.Ethernet{Path: "/soc@0/bus@30800000/ethernet@30be0000", Reg: phys.Range{Base: 0x30be0000, Size: 0x10000}, SPIs: []uint32{118}, PHY: 1, PHYMode: "rgmii-id"}
	opt, err := enetOptions(cfg, e)
	if err != nil {
		t.Fatal(err)
	}
	opt.RxRing, opt.TxRing = ring, ring
	if now != nil {
		opt.Now, opt.LinkWait = now, -1
	}
	dev, err := enet.Open(fd, e.Reg.Base, reg, opt)
	if err != nil {
		t.Fatal(err)
	}
	n, err := New(dev, NICOf(e), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.watch(10 * time.Millisecond)
	t.Cleanup(n.Close)
	t.Cleanup(func() {
		if f := fd.Faults(); len(f) > 0 {
			t.Errorf("MAC model faults: %q", f)
		}
	})
	return enetBoard{fd, n}
}

// enetWire is a cable between two ENETs, polled as the poll goroutines
// would; with lose > 0 it loses every lose-th frame.
func enetWire(a, b enetBoard, lose int, stop chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	n := 0
	pass := func(to enetBoard, f []byte) {
		if n++; lose == 0 || n%lose != 0 {
			to.fd.Receive(f)
		}
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		busy := a.n.Poll()
		busy = b.n.Poll() || busy
		for _, f := range a.fd.Transmitted() {
			pass(b, f)
			busy = true
		}
		for _, f := range b.fd.Transmitted() {
			pass(a, f)
			busy = true
		}
		if !busy {
			runtime.Gosched()
			time.Sleep(10 * time.Microsecond)
		}
	}
}

// A TCP stream crosses a cable between two ENETs whole: with the default
// rings, with 8-buffer rings (most frames wait in the transmit backlog),
// and over a cable that loses one frame in 50 (TCP recovers them).
func TestTCPStreamENET(t *testing.T) {
	for _, tc := range []struct{ ring, lose int }{{enet.DefaultRing, 0}, {8, 0}, {enet.DefaultRing, 50}} {
		t.Run(fmt.Sprintf("ring%d-lose%d", tc.ring, tc.lose), func(t *testing.T) {
			a, b := newENETBoard(t, 0x11, tc.ring), newENETBoard(t, 0x12, tc.ring)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go enetWire(a, b, tc.lose, stop, &wg)
			t.Cleanup(func() { close(stop); wg.Wait() })

			const size = 2 << 20
			streamDigest(t, a.n, b.n, "10.77.0.18", size)
			sa := a.n.Stats()
			if sa.TxBytes < size || sa.TxFrames < size/1460 || sa.TxDrops != 0 {
				t.Errorf("stats %+v", sa)
			}
			if tc.lose > 0 && sa.TCPRetransmits == 0 {
				t.Errorf("a lossy cable and no retransmission: %+v", sa)
			}
			if !strings.Contains(a.n.String(), "ENET at 0x30be0000") {
				t.Errorf("String() = %q", a.n.String())
			}
		})
	}
}

// A cable plugged in while nothing else polls (the poller asleep, no
// interrupt for it) is seen by the watch poll: the link comes up and the
// MAC is set up for it.
func TestENETWatchSeesTheLink(t *testing.T) {
	var mu sync.Mutex
	clock := time.Unix(1e9, 0)
	now := func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }
	b := newENETBoardWith(t, 0x11, 8, fakeenet.Options{PHY: 1, Unplugged: true}, now)
	if linkUp(b) {
		t.Fatal("MAC set up for 100 Mbit/s with the cable out")
	}
	b.fd.SetLink(true, 100, false)
	mu.Lock()
	clock = clock.Add(2 * time.Second)
	mu.Unlock()
	deadline := time.Now().Add(5 * time.Second)
	for !linkUp(b) && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if c := b.fd.Config(); !linkUp(b) || c.Speed != 100 {
		t.Fatalf("after the cable came: MAC %+v", c)
	}
}

// linkUp: the MAC is set up for the 100 Mbit/s partner (read from the
// model: the driver's own state is the watch goroutine's).
func linkUp(b enetBoard) bool { return b.fd.Config().Speed == 100 }
