// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package mgmt brings up Ferry's management network: its own NIC -- a
// virtio-net device on QEMU's board (package virtionet), the ENET on the
// i.MX8M Plus (package enet) -- under package link's endpoint, a gVisor
// TCP/IP stack over it (IPv4, ARP, TCP, ICMP echo) with one address on one
// link, and Go net.Listener/net.Conn adapters on which Ferry's API and
// migration stream (crypto/tls, net/http) run.
//
// The hypervisor's part:
//
//	c, err := config.Parse(board.Bootargs)       // ferry.ip=, ferry.mac=, ferry.mtu=
//	n, err := mgmt.Up(mgmt.Config{Transports: board.Virtio, Addr: c.IP, MAC: c.MAC, MTU: c.MTU}) // tamago/arm64 only
//	// or, on the i.MX8M Plus: e, err := mgmt.FindENET(board.Ethernet, "fsl,imx8mp-fec")
//	//                         n, err := mgmt.UpENET(cfg, e, dmaWindow)
//	nic := n.NIC()                               // the machine description makes it Ferry's
//	go func() {                                  // on the NIC's interrupt: n.Interrupt(), then wake this goroutine
//		for {
//			for n.Poll() { runtime.Gosched() }
//			if !n.Arm() { waitForTheInterrupt() }
//		}
//	}()
//
// Nothing moves unless Poll is called, from one goroutine: while there is
// work, and again after the NIC's interrupt (Arm enables it once the
// queues are drained; Interrupt acknowledges it and holds further ones
// back until the next Arm). Poll never blocks.
// Listen, Dial and the connections they return block their own goroutine
// only.
//
// A NIC whose link changes without an interrupt (the ENET's PHY) is also
// polled once a second from a goroutine of its own (UpENET), so that a
// cable plugged in while the poller sleeps is seen.
//
// It is not a general network configuration layer: one NIC, one IPv4
// address, an on-link route only, no DHCP, no IPv6.
package mgmt
