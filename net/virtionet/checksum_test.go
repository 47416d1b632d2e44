// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"testing"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/checksum"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
	"gvisor.dev/gvisor/pkg/waiter"

	"github.com/ferry-hv/ferry/net/link"
	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

const listenPort, peerPort = 7100, 40000

// tcpFrame is an Ethernet frame from the peer to us carrying a TCP segment
// with the given flags, its IP and TCP checksums set unless bad.
func tcpFrame(flags header.TCPFlags, bad bool) []byte {
	const ipLen = header.IPv4MinimumSize + header.TCPMinimumSize
	f := make([]byte, header.EthernetMinimumSize+ipLen)
	header.Ethernet(f).Encode(&header.EthernetFields{SrcAddr: peerMAC, DstAddr: tcpip.LinkAddress(testMAC[:]), Type: ipv4.ProtocolNumber})
	ip := header.IPv4(f[header.EthernetMinimumSize:])
	ip.Encode(&header.IPv4Fields{TotalLength: ipLen, TTL: 64, Protocol: uint8(tcp.ProtocolNumber), SrcAddr: peerIP, DstAddr: ourIP})
	ip.SetChecksum(^ip.CalculateChecksum())
	t := header.TCP(ip.Payload())
	t.Encode(&header.TCPFields{SrcPort: peerPort, DstPort: listenPort, SeqNum: 1000, DataOffset: header.TCPMinimumSize, Flags: flags, WindowSize: 65535})
	xsum := header.PseudoHeaderChecksum(tcp.ProtocolNumber, peerIP, ourIP, header.TCPMinimumSize)
	t.SetChecksum(^t.CalculateChecksum(xsum))
	if bad {
		t.SetChecksum(t.Checksum() + 1)
	}
	return f
}

// pollFor polls until the device has taken want frames or d has passed:
// TCP answers from the stack's own goroutines.
func pollFor(ep *link.Endpoint, fd *fakedev.Device, want int, d time.Duration) [][]byte {
	var got [][]byte
	for end := time.Now().Add(d); len(got) < want && time.Now().Before(end); {
		ep.Poll()
		got = append(got, fd.Transmitted()...)
		time.Sleep(time.Millisecond)
	}
	return got
}

// validTCP reports whether frame is an IPv4 TCP segment whose IP and TCP
// checksums are complete (what a peer that verifies needs to see).
func validTCP(t *testing.T, frame []byte) header.TCP {
	t.Helper()
	eth := header.Ethernet(frame)
	if eth.Type() != ipv4.ProtocolNumber {
		t.Fatalf("frame %x is not IPv4", frame)
	}
	ip := header.IPv4(frame[header.EthernetMinimumSize:])
	if !ip.IsValid(len(ip)) || !ip.IsChecksumValid() || ip.Protocol() != uint8(tcp.ProtocolNumber) {
		t.Fatalf("bad IPv4 header %x", ip[:header.IPv4MinimumSize])
	}
	seg := header.TCP(ip.Payload())
	xsum := header.PseudoHeaderChecksum(tcp.ProtocolNumber, ip.SourceAddress(), ip.DestinationAddress(), uint16(len(seg)))
	if got := checksum.Checksum(seg, xsum); got != 0xffff {
		t.Fatalf("TCP checksum of %x does not verify (sum %#x): it was left to the device", seg, got)
	}
	return seg
}

// A device that offers the checksum offloads (QEMU does when its backend
// has a vnet header, e.g. tap; never over the socket netdev) gets neither
// accepted, the link claims no checksum offload to the stack, every TCP
// segment leaves with complete checksums and a zero virtio header (fakedev
// reports a violation otherwise), and a received segment with a bad
// checksum is still dropped by the stack.
func TestChecksumsStayInSoftware(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{Features: fakedev.QEMUFeatures | fakedev.FeatureCSUM | fakedev.FeatureGuestCSUM}, Options{})
	if _, acc := d.Features(); acc&(featureNetCSUM|featureNetGuestCSUM) != 0 {
		t.Fatalf("driver accepted %s", DescribeFeatures(acc))
	}
	ep := link.NewEndpoint(d)
	if c := ep.Capabilities(); c&(stack.CapabilityTXChecksumOffload|stack.CapabilityRXChecksumOffload) != 0 {
		t.Fatalf("link claims checksum offload: capabilities %#x", c)
	}
	s := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	t.Cleanup(s.Close)
	if err := s.CreateNIC(1, ethernet.New(ep)); err != nil {
		t.Fatalf("CreateNIC: %v", err)
	}
	if err := s.AddProtocolAddress(1, tcpip.ProtocolAddress{Protocol: ipv4.ProtocolNumber,
		AddressWithPrefix: ourIP.WithPrefix()}, stack.AddressProperties{}); err != nil {
		t.Fatalf("AddProtocolAddress: %v", err)
	}
	s.SetRouteTable([]tcpip.Route{{Destination: header.IPv4EmptySubnet, NIC: 1}})
	s.AddStaticNeighbor(1, ipv4.ProtocolNumber, peerIP, peerMAC)
	var wq waiter.Queue
	l, err := s.NewEndpoint(tcp.ProtocolNumber, ipv4.ProtocolNumber, &wq)
	if err != nil {
		t.Fatalf("NewEndpoint: %v", err)
	}
	defer l.Close()
	if err := l.Bind(tcpip.FullAddress{Port: listenPort}); err != nil {
		t.Fatalf("Bind: %v", err)
	}
	if err := l.Listen(1); err != nil {
		t.Fatalf("Listen: %v", err)
	}

	// A SYN with a bad checksum is dropped: no answer.
	fd.Receive(tcpFrame(header.TCPFlagSyn, true))
	if got := pollFor(ep, fd, 1, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("answered a SYN with a bad checksum: %x", got)
	}
	if n := s.Stats().TCP.ChecksumErrors.Value(); n != 1 {
		t.Errorf("TCP checksum errors %d, want 1", n)
	}
	// A good SYN gets a SYN-ACK with complete checksums.
	fd.Receive(tcpFrame(header.TCPFlagSyn, false))
	got := pollFor(ep, fd, 1, 10*time.Second)
	if len(got) != 1 {
		t.Fatalf("got %d frames, want one SYN-ACK", len(got))
	}
	if seg := validTCP(t, got[0]); seg.Flags() != header.TCPFlagSyn|header.TCPFlagAck || seg.SourcePort() != listenPort {
		t.Fatalf("reply %x is not our SYN-ACK", seg)
	}
	checkClean(t, fd)
}
