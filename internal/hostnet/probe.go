// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hostnet

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"time"

	"github.com/ferry-hv/ferry/internal/l2switch"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
)

// probe is duplicate address detection as RFC 5227 describes it: two ARP
// probes (sender IP 0.0.0.0, target our address), and any ARP packet whose
// sender address is ours means the address is taken.
//
// The probes come from a random temporary MAC, not the stack's own: a
// second ferryctl at the same address also has the same MAC (DefaultMAC),
// and an answer addressed to that MAC would be taken by the switch for the
// first one's (gVisor's own DAD fails that way).
func (n *Net) probe() error {
	if n.cfg.DAD < 0 {
		return nil
	}
	var tmp [6]byte
	rand.Read(tmp[:])
	tmp[0] = tmp[0]&^1 | 2 // unicast, locally administered
	ours := n.cfg.Addr.Addr().As4()

	holder := make(chan net.HardwareAddr, 1)
	heard := func(frame []byte) {
		eth := header.Ethernet(frame)
		if eth.Type() != header.ARPProtocolNumber {
			return
		}
		arp := header.ARP(frame[header.EthernetMinimumSize:])
		if !arp.IsValid() || !bytes.Equal(arp.ProtocolAddressSender(), ours[:]) || bytes.Equal(arp.HardwareAddressSender(), tmp[:]) {
			return
		}
		select {
		case holder <- net.HardwareAddr(bytes.Clone(arp.HardwareAddressSender())):
		default:
		}
	}
	n.heard.Store(&heard)
	defer n.heard.Store(nil)

	probe := make([]byte, header.EthernetMinimumSize+header.ARPSize)
	header.Ethernet(probe).Encode(&header.EthernetFields{
		SrcAddr: tcpip.LinkAddress(tmp[:]),
		DstAddr: header.EthernetBroadcastAddress,
		Type:    header.ARPProtocolNumber,
	})
	arp := header.ARP(probe[header.EthernetMinimumSize:])
	arp.SetIPv4OverEthernet()
	arp.SetOp(header.ARPRequest)
	copy(arp.HardwareAddressSender(), tmp[:])
	copy(arp.ProtocolAddressTarget(), ours[:]) // sender IP stays 0.0.0.0

	tick := time.NewTicker(n.cfg.DAD / 2)
	defer tick.Stop()
	for i := 0; ; i++ {
		if i < 2 {
			if err := l2switch.WriteFrame(n.conn, probe); err != nil {
				return fmt.Errorf("hostnet: probing for %v: writing to the switch: %w", n.Addr(), err)
			}
		} else if i > 2 {
			return nil
		}
		select {
		case mac := <-holder:
			return fmt.Errorf("hostnet: %v: %w (answered by %v)", n.Addr(), ErrAddrInUse, mac)
		case <-n.ctx.Done():
			return fmt.Errorf("hostnet: probing for %v: %w", n.Addr(), n.Err())
		case <-tick.C:
		}
	}
}
