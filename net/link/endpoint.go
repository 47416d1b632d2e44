// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package link

import (
	"errors"
	"sync"

	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
)

// Endpoint tuning.
const (
	// rxBatch is how many frames one Poll takes from the device before
	// handing them to the stack.
	rxBatch = 32
	// backlogBytes bounds the software transmit backlog: frames the
	// stack wrote while every transmit buffer was with the device. gVisor's
	// TCP sends a whole window in one burst and takes a frame the link
	// drops for a loss (a retransmission, at worst a timeout), so the
	// backlog holds several send buffers' worth (mgmt sets 4 MiB). Its
	// frames share their memory with TCP's retransmission queue.
	backlogBytes = 16 << 20
)

// Endpoint is a gVisor stack.LinkEndpoint over a Device. It carries whole
// Ethernet frames and has no link header of its own: wrap it in gVisor's
// link/ethernet endpoint, which adds and parses the Ethernet header and
// makes the NIC resolve addresses with ARP.
//
// Outbound frames go straight into the transmit queue from WritePackets,
// whichever goroutine the stack writes from; frames the queue has no room
// for wait in a bounded backlog that Poll drains. Inbound frames are only
// taken by Poll, which never blocks: the caller polls while there is work,
// then Arms the device's interrupt and sleeps until Interrupt (or polls
// on, if it never Arms: the device then does not interrupt).
type Endpoint struct {
	pollMu sync.Mutex // serialises Poll
	batch  []*stack.PacketBuffer

	mu           sync.Mutex // guards everything below and the device
	dev          Device
	dispatcher   stack.NetworkDispatcher
	linkAddr     tcpip.LinkAddress
	mtu          uint32 // frame MTU: IP MTU + Ethernet header
	backlog      []*stack.PacketBuffer
	backlogSize  int // bytes in backlog
	backlogMax   int // bound on backlogSize
	backlogDrops uint64
	rxNoStack    uint64
	caps         stack.LinkEndpointCapabilities
}

var _ stack.LinkEndpoint = (*Endpoint)(nil)

// NewEndpoint returns the link endpoint for d.
func NewEndpoint(d Device) *Endpoint {
	return &Endpoint{
		dev:        d,
		linkAddr:   tcpip.LinkAddress(d.MAC()),
		mtu:        uint32(d.MaxFrame()),
		backlogMax: backlogBytes,
		batch:      make([]*stack.PacketBuffer, 0, rxBatch),
	}
}

// TrustChecksums makes the stack skip verifying the IP and TCP checksums of
// received packets (stack.CapabilityRXChecksumOffload). Only sound on an
// emulated link that cannot corrupt frames (QEMU's socket netdev over
// loopback), never on a wire; outbound checksums are still computed.
func (e *Endpoint) TrustChecksums() {
	e.mu.Lock()
	e.caps |= stack.CapabilityRXChecksumOffload
	e.mu.Unlock()
}

// Poll does one round of driver work without blocking: it takes back sent
// transmit buffers, moves backlogged frames into the transmit queue, and
// hands received frames (up to a batch) to the stack. busy reports whether
// anything moved; a caller keeps polling while it is true.
func (e *Endpoint) Poll() (busy bool) {
	e.pollMu.Lock()
	defer e.pollMu.Unlock()

	e.mu.Lock()
	moved := e.dev.Reclaim()
	moved += e.drainBacklog()
	e.dev.Flush()
	batch := e.batch[:0]
	e.dev.Receive(rxBatch, func(frame []byte) {
		batch = append(batch, stack.NewPacketBuffer(stack.PacketBufferOptions{
			Payload: buffer.MakeWithData(frame),
		}))
	})
	if moved == 0 && len(batch) == 0 {
		e.dev.Idle()
	}
	d := e.dispatcher
	if d == nil {
		e.rxNoStack += uint64(len(batch))
	}
	e.mu.Unlock()

	// Deliver outside the lock: the stack may answer inline (ARP, ICMP
	// echo), which calls WritePackets.
	for _, pkt := range batch {
		if d != nil {
			d.DeliverNetworkPacket(0, pkt) // the Ethernet wrapper reads the type
		}
		pkt.DecRef()
	}
	clear(batch)
	e.batch = batch[:0]
	return moved+len(batch) > 0
}

// Interrupt takes the device's interrupt (Device.Interrupt) and returns
// its status bits. It takes no lock (see there): it is for the interrupt
// path, between goroutines.
func (e *Endpoint) Interrupt() uint32 { return e.dev.Interrupt() }

// Arm is called by the goroutine that polls, when Poll found nothing to
// do, before it sleeps until Interrupt: it lets the device interrupt for
// a received frame (and for a sent one while frames wait in the backlog).
// True means work came meanwhile: poll again rather than sleep.
func (e *Endpoint) Arm() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dev.Arm(len(e.backlog) > 0)
}

// drainBacklog moves backlogged frames into free transmit buffers, oldest
// first, and returns how many it moved.
func (e *Endpoint) drainBacklog() int {
	n := 0
	for n < len(e.backlog) && e.send(e.backlog[n]) {
		e.backlogSize -= e.backlog[n].Size()
		e.backlog[n].DecRef()
		e.backlog[n] = nil
		n++
	}
	if n > 0 {
		e.backlog = append(e.backlog[:0], e.backlog[n:]...)
	}
	return n
}

// send posts pkt to the device; false when no transmit buffer is free. A
// frame the device refuses for any other reason is dropped (and counted
// by the device).
func (e *Endpoint) send(pkt *stack.PacketBuffer) bool {
	err := e.dev.Transmit(pkt.AsSlices()...)
	return !errors.Is(err, ErrQueueFull)
}

// WritePackets implements stack.LinkWriter. Every packet is accepted:
// sent, backlogged, or (backlog full, device stopped, frame too large)
// dropped and counted in Stats.
func (e *Endpoint) WritePackets(pkts stack.PacketBufferList) (int, tcpip.Error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.backlog) > 0 {
		e.dev.Reclaim()
		e.drainBacklog()
	}
	for _, pkt := range pkts.AsSlice() {
		if len(e.backlog) == 0 && e.send(pkt) {
			continue
		}
		if len(e.backlog) == 0 && e.dev.Reclaim() > 0 && e.send(pkt) {
			continue
		}
		if e.backlogSize+pkt.Size() > e.backlogMax {
			e.backlogDrops++
			continue
		}
		e.backlogSize += pkt.Size()
		e.backlog = append(e.backlog, pkt.IncRef())
	}
	e.dev.Flush()
	return pkts.Len(), nil
}

// Stats returns the device's counters, with frames dropped by the
// endpoint (backlog full, no stack attached) added to the drops.
func (e *Endpoint) Stats() Stats {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := e.dev.Stats()
	s.TxDrops += e.backlogDrops
	s.RxDrops += e.rxNoStack
	return s
}

// Err returns the error that stopped the device, if any.
func (e *Endpoint) Err() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dev.Err()
}

// MTU implements stack.LinkEndpoint: the largest frame, Ethernet header
// included (the Ethernet wrapper subtracts it).
func (e *Endpoint) MTU() uint32 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mtu
}

// SetMTU implements stack.LinkEndpoint; the MTU cannot grow past the
// device's buffers.
func (e *Endpoint) SetMTU(mtu uint32) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.mtu = min(mtu, uint32(e.dev.MaxFrame()))
}

// MaxHeaderLength implements stack.LinkEndpoint: no header of its own.
func (*Endpoint) MaxHeaderLength() uint16 { return 0 }

// LinkAddress implements stack.LinkEndpoint: the device's MAC address.
func (e *Endpoint) LinkAddress() tcpip.LinkAddress {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.linkAddr
}

// SetLinkAddress implements stack.LinkEndpoint. The device keeps
// receiving for its own address (the drivers do not change it).
func (e *Endpoint) SetLinkAddress(addr tcpip.LinkAddress) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.linkAddr = addr
}

// Capabilities implements stack.LinkEndpoint.
func (e *Endpoint) Capabilities() stack.LinkEndpointCapabilities {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.caps
}

// Attach implements stack.LinkEndpoint.
func (e *Endpoint) Attach(d stack.NetworkDispatcher) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.dispatcher = d
}

// IsAttached implements stack.LinkEndpoint.
func (e *Endpoint) IsAttached() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.dispatcher != nil
}

// Wait implements stack.LinkEndpoint: there are no worker goroutines.
func (*Endpoint) Wait() {}

// ARPHardwareType implements stack.LinkEndpoint; the Ethernet wrapper
// reports Ethernet.
func (*Endpoint) ARPHardwareType() header.ARPHardwareType { return header.ARPHardwareNone }

// AddHeader implements stack.LinkEndpoint: no header of its own.
func (*Endpoint) AddHeader(*stack.PacketBuffer) {}

// ParseHeader implements stack.LinkEndpoint: no header of its own.
func (*Endpoint) ParseHeader(*stack.PacketBuffer) bool { return true }

// Close implements stack.LinkEndpoint: backlogged frames are released.
// The device stays live (it is never handed back).
func (e *Endpoint) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, p := range e.backlog {
		p.DecRef()
	}
	e.backlog, e.backlogSize = nil, 0
}

// SetOnCloseAction implements stack.LinkEndpoint.
func (*Endpoint) SetOnCloseAction(func()) {}
