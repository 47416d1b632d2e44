// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package announce

import (
	"net"
	"testing"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// The frame parses as gVisor reads Ethernet and ARP: a broadcast RARP
// request from the guest's MAC about itself.
func TestFrame(t *testing.T) {
	mac := net.HardwareAddr{0x52, 0x54, 0x00, 0x88, 0x00, 0x10}
	b := Frame(mac)
	if len(b) != FrameSize {
		t.Fatalf("%d bytes", len(b))
	}
	eth := header.Ethernet(b)
	if eth.DestinationAddress() != tcpip.LinkAddress("\xff\xff\xff\xff\xff\xff") || eth.SourceAddress() != tcpip.LinkAddress(mac) || eth.Type() != EtherTypeRARP {
		t.Fatalf("Ethernet %v -> %v type %#x", eth.SourceAddress(), eth.DestinationAddress(), eth.Type())
	}
	arp := header.ARP(b[header.EthernetMinimumSize:])
	if !arp.IsValid() || arp.Op() != opReverseReq || string(arp.HardwareAddressSender()) != string(mac) || string(arp.HardwareAddressTarget()) != string(mac) {
		t.Fatalf("RARP op %d sender %x target %x", arp.Op(), arp.HardwareAddressSender(), arp.HardwareAddressTarget())
	}
	for i := 1; i < len(Gaps); i++ {
		if Gaps[i] <= Gaps[i-1] {
			t.Errorf("gap %d (%v) does not grow", i, Gaps[i])
		}
	}
}
