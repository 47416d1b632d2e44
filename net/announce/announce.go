// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package announce is a migrated guest's self-announcement: the frame the
// destination sends in the guest's name so that the switches of its
// segment learn its MAC address on the new port before the first packet
// for it is lost, and when. It is what QEMU's qemu_announce_self sends
// (net/announce.c): a RARP request from the guest's MAC, five rounds with
// growing gaps.
package announce

import (
	"encoding/binary"
	"net"
	"time"
)

// RARP and Ethernet (RFC 903, RFC 826; IEEE 802.3 pads a frame to 60
// bytes before its FCS).
const (
	EtherTypeRARP  = 0x8035
	opReverseReq   = 3 // RARP "request reverse"
	hwEthernet     = 1
	protoIPv4      = 0x0800
	FrameSize      = 60
	ethHeaderSize  = 14
	rarpHeaderSize = 28
)

// Frame is the RARP request QEMU's announcement sends: broadcast, from
// mac, asking for mac's address.
func Frame(mac net.HardwareAddr) []byte {
	b := make([]byte, FrameSize)
	copy(b[0:6], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	copy(b[6:12], mac)
	binary.BigEndian.PutUint16(b[12:], EtherTypeRARP)
	a := b[ethHeaderSize:]
	binary.BigEndian.PutUint16(a[0:], hwEthernet)
	binary.BigEndian.PutUint16(a[2:], protoIPv4)
	a[4], a[5] = 6, 4
	binary.BigEndian.PutUint16(a[6:], opReverseReq)
	copy(a[8:14], mac)  // sender hardware address; sender IP 0
	copy(a[18:24], mac) // target hardware address; target IP 0
	return b
}

// Gaps are the waits before each round, from the guest's resume: QEMU's
// defaults (announce-initial 50 ms, announce-step 100 ms, five rounds),
// the first frame at once.
var Gaps = []time.Duration{0, 50 * time.Millisecond, 150 * time.Millisecond, 250 * time.Millisecond, 350 * time.Millisecond}
