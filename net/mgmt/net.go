// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/link"
	"github.com/ferry-hv/ferry/phys"
)

// nicID is the stack's only NIC.
const nicID tcpip.NICID = 1

// Driver is what the management network needs of its NIC's driver
// (virtionet.Device, enet.Device).
type Driver interface {
	link.Device
	MTU() int       // the largest IP packet it carries
	String() string // for logs
}

// NIC is the device Ferry took for its management network, as the
// machine description needs it: its node (hidden from the guest, its
// registers unmapped) and its interrupt (Ferry's).
type NIC struct {
	Path string
	Reg  phys.Range
	SPI  uint32 // an SPI number: its GIC INTID is SPI + 32
}

// VirtioNIC is a virtio-mmio transport as a NIC.
func VirtioNIC(t dtb.VirtioMMIO) NIC { return NIC{Path: t.Path, Reg: t.Reg, SPI: t.SPI} }

// Net is the live management network.
type Net struct {
	s    *stack.Stack
	ep   *link.Endpoint
	dev  Driver
	nic  NIC
	addr netip.Prefix

	stopOnce sync.Once
	stop     chan struct{} // ends watch
}

// New builds the stack over an initialised driver dev of nic. Up and
// UpENET are New on the board's hardware; tests pass a driver over a
// fake.
func New(dev Driver, nic NIC, cfg Config) (*Net, error) {
	if _, _, err := cfg.checkMTU(dev.MTU()); err != nil {
		return nil, err
	}
	tun := DefaultTCP()
	if cfg.TCP != nil {
		tun = *cfg.TCP
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol, icmp.NewProtocol4},
	})
	if err := tun.apply(s); err != nil {
		s.Close()
		return nil, err
	}
	ep := link.NewEndpoint(dev)
	if tun.TrustLinkChecksums {
		ep.TrustChecksums()
	}
	n := &Net{s: s, ep: ep, dev: dev, nic: nic, addr: cfg.Addr, stop: make(chan struct{})}
	if err := n.configure(); err != nil {
		s.Close()
		return nil, err
	}
	return n, nil
}

func (n *Net) configure() error {
	if err := n.s.CreateNIC(nicID, ethernet.New(n.ep)); err != nil {
		return fmt.Errorf("mgmt: creating the NIC: %v", err)
	}
	a := tcpip.AddrFrom4(n.addr.Addr().As4())
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: a, PrefixLen: n.addr.Bits()},
	}
	if err := n.s.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		return fmt.Errorf("mgmt: adding address %v: %v", n.addr, err)
	}
	n.s.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}})
	return nil
}

// Poll does one round of NIC work without blocking and reports whether
// anything moved (see link.Endpoint.Poll). Call it from one goroutine
// (the poller), again at once while it reports true; the watch poll's
// calls from its own are serialised with it.
func (n *Net) Poll() (busy bool) { return n.ep.Poll() }

// Interrupt takes the NIC's interrupt (link.Endpoint.Interrupt): it
// acknowledges it at the device and reports whether it was the NIC's (its
// status bits). Call it from the interrupt path, then wake the goroutine
// that polls.
func (n *Net) Interrupt() bool { return n.ep.Interrupt() != 0 }

// Arm lets the NIC interrupt again once Poll has nothing to do; true
// means work arrived meanwhile (poll again instead of sleeping).
func (n *Net) Arm() bool { return n.ep.Arm() }

// SPI is the NIC's interrupt from the DTB: an SPI number (its GIC INTID
// is SPI + 32).
func (n *Net) SPI() uint32 { return n.nic.SPI }

// watch polls once every period from a goroutine of its own, until Close:
// a NIC whose link changes without an interrupt (the ENET's PHY) is
// looked at (its Idle) even while the poller sleeps.
func (n *Net) watch(every time.Duration) {
	go func() {
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-n.stop:
				return
			case <-t.C:
				n.Poll()
			}
		}
	}()
}

// listenBacklog is how many connections may wait to be accepted: Ferry's
// listeners accept at once (internal/tlsaccept), so a few suffice, and each
// waiting one can hold its receive window of Ferry's heap (gonet's default
// is 4096).
const listenBacklog = 16

// Listen accepts TCP connections to Ferry's address on port. A
// receiveBuffer above 0 fixes the receive buffer of every connection it
// accepts (no growth with the bandwidth): what each one, handshaken or
// not, can hold of Ferry's heap. 0 keeps the stack's (DefaultTCP).
func (n *Net) Listen(port uint16, receiveBuffer int) (net.Listener, error) {
	var wq waiter.Queue
	ep, terr := n.s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if terr == nil {
		if receiveBuffer > 0 {
			ep.SocketOptions().SetReceiveBufferSize(int64(receiveBuffer), true)
		}
		if terr = ep.Bind(n.local(port)); terr == nil {
			terr = ep.Listen(listenBacklog)
		}
		if terr != nil {
			ep.Close()
		}
	}
	if terr != nil {
		return nil, fmt.Errorf("mgmt: listen on %v:%d: %s", n.addr.Addr(), port, terr)
	}
	return gonet.NewTCPListener(n.s, &wq, ep), nil
}

// Dial connects to addr ("10.77.0.12:7001") over the management link.
func (n *Net) Dial(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		return nil, fmt.Errorf("mgmt: dial %q: want <IPv4 address>:<port>", addr)
	}
	remote := tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(ap.Addr().As4()), Port: ap.Port()}
	c, err := gonet.DialContextTCP(ctx, n.s, remote, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("mgmt: dial %v: %w", addr, err)
	}
	return c, nil
}

func (n *Net) local(port uint16) tcpip.FullAddress {
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(n.addr.Addr().As4()), Port: port}
}

// NIC is the device Ferry took: the machine description makes it Ferry's
// own (hidden from the guest).
func (n *Net) NIC() NIC { return n.nic }

// Transport is NIC in the form of a virtio-mmio transport (QEMU's board,
// where the NIC is one).
func (n *Net) Transport() dtb.VirtioMMIO {
	return dtb.VirtioMMIO{Path: n.nic.Path, Reg: n.nic.Reg, SPI: n.nic.SPI}
}

// String describes the network for logs: address, NIC, driver.
func (n *Net) String() string {
	return fmt.Sprintf("%v on %s: %v", n.addr, n.nic.Path, n.dev)
}

// Addr is Ferry's address and the link's prefix.
func (n *Net) Addr() netip.Prefix { return n.addr }

// MAC is the NIC's MAC address.
func (n *Net) MAC() net.HardwareAddr { return n.dev.MAC() }

// MTU is the link's IP MTU.
func (n *Net) MTU() int { return n.dev.MTU() }

// Err returns the error that stopped the NIC, if any (the device broke the
// virtio protocol or asked to be reset); traffic has stopped.
func (n *Net) Err() error { return n.ep.Err() }

// Stats counts the management network's traffic.
type Stats struct {
	link.Stats // frames and bytes in and out, drops, at the NIC

	TCPSegmentsSent     uint64
	TCPRetransmits      uint64
	TCPTimeouts         uint64 // retransmission timer expiries
	TCPSpuriousRTO      uint64 // of which found spurious (the segment had arrived)
	TCPFastRetransmits  uint64
	TCPChecksumErrors   uint64
	TCPInvalidSegments  uint64
	IPMalformedReceived uint64
}

// Stats returns the current counters.
func (n *Net) Stats() Stats {
	st := n.s.Stats()
	return Stats{
		Stats:               n.ep.Stats(),
		TCPSegmentsSent:     st.TCP.SegmentsSent.Value(),
		TCPRetransmits:      st.TCP.Retransmits.Value(),
		TCPTimeouts:         st.TCP.Timeouts.Value(),
		TCPSpuriousRTO:      st.TCP.SpuriousRTORecovery.Value(),
		TCPFastRetransmits:  st.TCP.FastRetransmit.Value(),
		TCPChecksumErrors:   st.TCP.ChecksumErrors.Value(),
		TCPInvalidSegments:  st.TCP.InvalidSegmentsReceived.Value(),
		IPMalformedReceived: st.IP.MalformedPacketsReceived.Value(),
	}
}

// Close tears the stack down (connections are reset); the NIC stays
// Ferry's.
func (n *Net) Close() {
	n.stopOnce.Do(func() { close(n.stop) })
	n.s.Close()
}
