// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package enet

import (
	"bytes"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"

	"github.com/ferry-hv/ferry/net/enet/fakeenet"
	"github.com/ferry-hv/ferry/net/link"
)

// The driver under gVisor's stack: an ARP request for Ferry's address,
// received by the MAC, is answered through the transmit ring, padded to
// the Ethernet minimum, and the link endpoint's MTU is the driver's.
func TestEndpointARP(t *testing.T) {
	r := newRig(t, fakeenet.Options{}, Options{})
	ep := link.NewEndpoint(r.d)
	s := stack.New(stack.Options{NetworkProtocols: []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol}})
	t.Cleanup(s.Close)
	ours, peer := tcpip.AddrFrom4([4]byte{10, 77, 0, 11}), tcpip.AddrFrom4([4]byte{10, 77, 0, 12})
	eth := ethernet.New(ep)
	if eth.MTU() != MTU {
		t.Errorf("IP MTU %d, want %d", eth.MTU(), MTU)
	}
	if err := s.CreateNIC(1, eth); err != nil {
		t.Fatal(err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber, AddressWithPrefix: ours.WithPrefix()}, stack.AddressProperties{}); err != nil {
		t.Fatal(err)
	}
	req := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(req).Encode(&header.EthernetFields{SrcAddr: tcpip.LinkAddress(peerMAC), DstAddr: header.EthernetBroadcastAddress, Type: arp.ProtocolNumber})
	a := header.ARP(req[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), peerMAC)
	copy(a.ProtocolAddressSender(), peer.AsSlice())
	copy(a.ProtocolAddressTarget(), ours.AsSlice())
	r.fd.Receive(req)
	var got [][]byte
	for i := 0; i < 100 && len(got) == 0; i++ {
		ep.Poll()
		got = r.fd.Transmitted()
	}
	if len(got) != 1 || len(got[0]) != 60 {
		t.Fatalf("sent %d frames (%v), want one 60-byte ARP reply", len(got), got)
	}
	reply := header.ARP(got[0][header.EthernetMinimumSize:])
	if header.Ethernet(got[0]).DestinationAddress() != tcpip.LinkAddress(peerMAC) || reply.Op() != header.ARPReply ||
		!bytes.Equal(reply.HardwareAddressSender(), testMAC) {
		t.Fatalf("reply %x", got[0])
	}
}
