// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package link is the gVisor stack.LinkEndpoint over Ferry's management
// NIC, whichever driver runs it: a virtio-net device on QEMU's board
// (package virtionet) or the i.MX ENET on the i.MX8M Plus (package enet).
// A driver is a Device: fixed transmit and receive buffers the endpoint
// fills and empties by polling, and an interrupt it can take, acknowledge
// and arm again.
//
// Outbound frames go to the Device from WritePackets, whichever goroutine
// the stack writes from; frames it has no buffer for wait in a bounded
// backlog that Poll drains. Inbound frames are only taken by Poll, which
// never blocks: its caller polls while there is work, then Arms the
// device's interrupt and sleeps until Interrupt (or polls on, if it never
// Arms: the device then does not interrupt). The endpoint carries whole
// Ethernet frames and has no header of its own: it is wrapped in gVisor's
// link/ethernet endpoint.
//
// It is not a driver, and it knows nothing of a device's registers.
package link
