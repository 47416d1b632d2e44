// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"bytes"
	"net"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/icmp"

	"github.com/ferry-hv/ferry/net/link"
	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

var (
	ourIP   = tcpip.AddrFrom4([4]byte{10, 77, 0, 11})
	peerIP  = tcpip.AddrFrom4([4]byte{10, 77, 0, 12})
	peerMAC = tcpip.LinkAddress([]byte{0x52, 0x54, 0, 0x77, 0, 0x12})
)

func newStack(t *testing.T, ep *link.Endpoint) *stack.Stack {
	t.Helper()
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{icmp.NewProtocol4},
	})
	if err := s.CreateNIC(1, ethernet.New(ep)); err != nil {
		t.Fatalf("CreateNIC: %v", err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: ourIP.WithPrefix()}, stack.AddressProperties{}); err != nil {
		t.Fatalf("AddProtocolAddress: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

func arpRequest() []byte {
	f := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: peerMAC, DstAddr: header.EthernetBroadcastAddress, Type: arp.ProtocolNumber})
	a := header.ARP(f[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), peerMAC)
	copy(a.ProtocolAddressSender(), peerIP.AsSlice())
	copy(a.ProtocolAddressTarget(), ourIP.AsSlice())
	return f
}

func pollUntil(ep *link.Endpoint, fd *fakedev.Device, want int) [][]byte {
	var got [][]byte
	for i := 0; i < 100 && len(got) < want; i++ {
		ep.Poll()
		got = append(got, fd.Transmitted()...)
	}
	return got
}

// An ARP request for our address, injected by the device, is answered
// through the transmit queue.
func TestEndpointARP(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{}, Options{})
	ep := link.NewEndpoint(d)
	newStack(t, ep)
	fd.Receive(arpRequest())
	got := pollUntil(ep, fd, 1)
	if len(got) != 1 {
		t.Fatalf("got %d frames, want one ARP reply", len(got))
	}
	eth := header.Ethernet(got[0])
	if eth.Type() != arp.ProtocolNumber || eth.DestinationAddress() != peerMAC || eth.SourceAddress() != tcpip.LinkAddress(testMAC[:]) {
		t.Fatalf("reply %x is not ARP from us to the peer", got[0])
	}
	a := header.ARP(got[0][header.EthernetMinimumSize:])
	if a.Op() != header.ARPReply || !bytes.Equal(a.ProtocolAddressSender(), ourIP.AsSlice()) {
		t.Fatalf("ARP reply %x", a)
	}
	s := ep.Stats()
	if s.RxFrames != 1 || s.TxFrames != 1 || s.RxBytes != uint64(len(arpRequest())) {
		t.Errorf("stats %+v", s)
	}
	checkClean(t, fd)
}

func TestEndpointLinkAttributes(t *testing.T) {
	d, _ := newDev(t, fakedev.Options{}, Options{MTU: 9000})
	ep := link.NewEndpoint(d)
	eth := ethernet.New(ep)
	if eth.MTU() != 9000 {
		t.Errorf("IP MTU %d, want 9000", eth.MTU())
	}
	if !bytes.Equal([]byte(eth.LinkAddress()), testMAC[:]) {
		t.Errorf("link address %v", net.HardwareAddr(eth.LinkAddress()))
	}
	ep.SetMTU(100000)
	if ep.MTU() != 9014 {
		t.Errorf("SetMTU grew past the buffers: %d", ep.MTU())
	}
	if eth.Capabilities()&stack.CapabilityResolutionRequired == 0 {
		t.Errorf("Ethernet NIC does not resolve addresses")
	}
	if ep.Poll() {
		t.Errorf("idle Poll reports busy")
	}
}

// The interrupt cycle: a device that was never armed does not interrupt
// (polled use); once armed, a received frame raises the line, Interrupt
// lowers it and holds further interrupts back until Arm, which reports
// the frames that came meanwhile; a configuration change (a device that
// needs a reset) interrupts too and stops the device at the next Poll.
func TestEndpointInterrupts(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{}, Options{})
	ep := link.NewEndpoint(d)
	newStack(t, ep)
	line := func() bool { high, _ := fd.Interrupting(); return high }

	fd.Receive(arpRequest())
	if line() {
		t.Fatal("a device never armed interrupted")
	}
	pollUntil(ep, fd, 1)
	for ep.Poll() {
	}
	if ep.Arm() {
		t.Fatal("Arm with nothing received reports work")
	}
	fd.Receive(arpRequest())
	if !line() {
		t.Fatal("an armed device did not interrupt for a received frame")
	}
	if st := ep.Interrupt(); st != InterruptUsedBuffer || line() {
		t.Fatalf("Interrupt: status %#x, line still high %v", st, line())
	}
	fd.Receive(arpRequest()) // before the poller ran: no second interrupt
	if _, raised := fd.Interrupting(); line() || raised != 1 {
		t.Fatalf("interrupts not held back after Interrupt: line %v, raised %d times", line(), raised)
	}
	if !ep.Arm() {
		t.Fatal("Arm does not report the frames that came while held back")
	}
	if got := pollUntil(ep, fd, 2); len(got) != 2 {
		t.Fatalf("%d ARP replies, want 2", len(got))
	}
	if ep.Interrupt() != 0 {
		t.Fatal("Interrupt with the line low reports a status")
	}

	for ep.Poll() {
	}
	ep.Arm()
	fd.SetNeedsReset()
	if st := ep.Interrupt(); st&InterruptConfig == 0 {
		t.Fatalf("a device needing a reset: status %#x", st)
	}
	ep.Poll()
	if ep.Err() == nil {
		t.Fatal("the device needing a reset was not noticed at the next Poll")
	}
}
