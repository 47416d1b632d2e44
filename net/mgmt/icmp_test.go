// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"net/netip"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

var (
	peerMAC = tcpip.LinkAddress([]byte{0x52, 0x54, 0, 0x77, 0, 0x02})
	ourMAC  = tcpip.LinkAddress([]byte{0x52, 0x54, 0, 0x77, 0, 0x11})
	peerIP  = tcpip.AddrFrom4([4]byte{10, 77, 0, 2})
	ourIP   = tcpip.AddrFrom4([4]byte{10, 77, 0, 11})
)

func arpRequest() []byte {
	f := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: peerMAC, DstAddr: header.EthernetBroadcastAddress, Type: header.ARPProtocolNumber})
	a := header.ARP(f[header.EthernetMinimumSize:])
	a.SetIPv4OverEthernet()
	a.SetOp(header.ARPRequest)
	copy(a.HardwareAddressSender(), peerMAC)
	copy(a.ProtocolAddressSender(), peerIP.AsSlice())
	copy(a.ProtocolAddressTarget(), ourIP.AsSlice())
	return f
}

func echoRequest(payload []byte) []byte {
	const icmpLen = header.ICMPv4MinimumSize
	total := header.IPv4MinimumSize + icmpLen + len(payload)
	f := make([]byte, header.EthernetMinimumSize+total)
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: peerMAC, DstAddr: ourMAC, Type: header.IPv4ProtocolNumber})
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: uint16(total), TTL: 64, Protocol: uint8(header.ICMPv4ProtocolNumber), SrcAddr: peerIP, DstAddr: ourIP})
	ip.SetChecksum(^ip.CalculateChecksum())
	ic := header.ICMPv4(ip.Payload())
	ic.SetType(header.ICMPv4Echo)
	ic.SetIdent(0x77)
	ic.SetSequence(1)
	copy(ic.Payload(), payload)
	ic.SetChecksum(^checksum.Checksum(ic, 0))
	return f
}

// The stack answers ARP and ICMP echo (ping) on its own.
func TestPing(t *testing.T) {
	a := newBoard(t, 0x11, Config{Addr: netip.MustParsePrefix("10.77.0.11/24"), MTU: 1500})
	a.fd.Receive(arpRequest())
	a.fd.Receive(echoRequest([]byte("ferry")))
	var out [][]byte
	for i := 0; i < 100 && len(out) < 2; i++ {
		a.n.Poll()
		out = append(out, a.fd.Transmitted()...)
	}
	var reply header.ICMPv4
	for _, f := range out {
		eth := header.Ethernet(f)
		if eth.Type() != header.IPv4ProtocolNumber {
			continue
		}
		ip := header.IPv4(f[header.EthernetMinimumSize:])
		if ip.DestinationAddress() == peerIP && ip.Protocol() == uint8(header.ICMPv4ProtocolNumber) {
			reply = header.ICMPv4(ip.Payload())
		}
	}
	if reply == nil || reply.Type() != header.ICMPv4EchoReply || string(reply.Payload()) != "ferry" {
		t.Fatalf("no echo reply among %d frames", len(out))
	}
}
