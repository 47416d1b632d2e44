// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package hostnet puts the host on Ferry's management link: a gVisor
// userspace TCP/IP stack (IPv4, ARP, TCP) whose only NIC is a port on the
// management switch (package l2switch), reached over a 127.0.0.1 stream
// connection in QEMU's socket-netdev framing. Dial and Listen return
// ordinary net.Conn / net.Listener values (gonet), so net/http and
// crypto/tls run over it unchanged.
//
// The addresses it uses (10.77.0.0/24 by default) exist only inside the
// emulated link; no host interface, route or socket other than the one
// loopback connection to the switch is involved. It is not a general
// purpose network: no IPv6, no UDP, no DHCP, one subnet, no gateway.
package hostnet

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferry-hv/ferry/internal/l2switch"
	"gvisor.dev/gvisor/pkg/buffer"
	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/adapters/gonet"
	"gvisor.dev/gvisor/pkg/tcpip/header"
	"gvisor.dev/gvisor/pkg/tcpip/link/channel"
	"gvisor.dev/gvisor/pkg/tcpip/link/ethernet"
	"gvisor.dev/gvisor/pkg/tcpip/network/arp"
	"gvisor.dev/gvisor/pkg/tcpip/network/ipv4"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// Defaults.
const (
	DefaultSwitch = "127.0.0.1:7777"
	DefaultAddr   = "10.77.0.2/24"
	DefaultMTU    = 1500

	// MaxMTU is the largest IP MTU: an IPv4 packet's total length is 16 bits.
	MaxMTU = 65535
	// MinMTU is the smallest IP MTU IPv4 allows.
	MinMTU = 576
)

// nicID is the stack's only NIC.
const nicID tcpip.NICID = 1

// txQueue is how many outgoing frames the link endpoint holds before the
// stack sees "no buffer space" (TCP then retransmits).
const txQueue = 1024

// closeDrain bounds how long Close waits for the last frames to go out.
const closeDrain = 200 * time.Millisecond

// Config says where and how the host joins the link. The zero value joins
// 127.0.0.1:7777 as 10.77.0.2/24, MTU 1500.
type Config struct {
	// Switch is the switch's address; it must be 127.0.0.1 and a port.
	Switch string
	// Addr is this stack's address and subnet on the link.
	Addr netip.Prefix
	// MAC is this stack's Ethernet address. Default: DefaultMAC(Addr).
	MAC net.HardwareAddr
	// MTU is the IP MTU (the Ethernet payload; frames are MTU+14 bytes).
	MTU int
	// DAD is how long to wait for an answer to the ARP probe for Addr
	// (RFC 5227 duplicate address detection) before taking it: 0 means
	// DefaultDAD, a negative value skips the probe.
	DAD time.Duration
	// Logf receives link errors. Default log.Printf.
	Logf func(format string, args ...any)
}

// DefaultDAD is the default wait for duplicate address detection: long
// enough for another host stack or a board's Ferry to answer.
const DefaultDAD = 200 * time.Millisecond

// ErrAddrInUse is wrapped by Join and New when another station on the link
// answers for the address.
var ErrAddrInUse = errors.New("address already in use on the link")

// DefaultMAC is the MAC a stack at addr uses unless told otherwise: a
// locally administered address built from the IPv4 address,
// 02:00:a:b:c:d. It cannot collide with QEMU's 52:54:00 boards.
func DefaultMAC(addr netip.Addr) net.HardwareAddr {
	a := addr.As4()
	return net.HardwareAddr{0x02, 0x00, a[0], a[1], a[2], a[3]}
}

// Stats count the frames that crossed this stack's link.
type Stats struct {
	TxFrames, TxBytes uint64
	RxFrames, RxBytes uint64
	MaxTxFrame        uint64 // largest frame sent, in bytes
	MaxRxFrame        uint64 // largest frame received
	// TCP segments sent again, and retransmission timeouts, over every
	// connection of the stack.
	Retransmits, Timeouts uint64
}

// Net is one host stack on the management link.
type Net struct {
	cfg   Config
	conn  net.Conn
	st    *stack.Stack
	link  *channel.Endpoint
	local tcpip.Address

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
	err    atomic.Pointer[error] // why the link went down

	// heard, while not nil, is shown every frame received (see probe).
	heard atomic.Pointer[func([]byte)]

	txFrames, txBytes, maxTx atomic.Uint64
	rxFrames, rxBytes, maxRx atomic.Uint64
}

func (c *Config) fill() error {
	if c.Switch == "" {
		c.Switch = DefaultSwitch
	}
	if !c.Addr.IsValid() {
		c.Addr = netip.MustParsePrefix(DefaultAddr)
	}
	if !c.Addr.Addr().Is4() {
		return fmt.Errorf("hostnet: address %v: only IPv4 is supported", c.Addr)
	}
	if c.MAC == nil {
		c.MAC = DefaultMAC(c.Addr.Addr())
	}
	if len(c.MAC) != 6 || c.MAC[0]&1 != 0 {
		return fmt.Errorf("hostnet: MAC %v: not a unicast Ethernet address", c.MAC)
	}
	if c.MTU == 0 {
		c.MTU = DefaultMTU
	}
	if c.MTU < MinMTU || c.MTU > MaxMTU {
		return fmt.Errorf("hostnet: MTU %d: outside %d..%d", c.MTU, MinMTU, MaxMTU)
	}
	if c.DAD == 0 {
		c.DAD = DefaultDAD
	}
	if c.Logf == nil {
		c.Logf = log.Printf
	}
	return nil
}

// Join dials the switch (a loopback address) and brings the stack up on it.
func Join(ctx context.Context, cfg Config) (*Net, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	if err := l2switch.CheckLoopback(cfg.Switch); err != nil {
		return nil, fmt.Errorf("hostnet: switch %w", err)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", cfg.Switch)
	if err != nil {
		return nil, fmt.Errorf("hostnet: cannot reach the management switch at %s (is ferry-switch running?): %w", cfg.Switch, err)
	}
	n, err := New(conn, cfg)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return n, nil
}

// New brings the stack up on conn, a connection to a switch port (Config's
// Switch field is not used). The Net owns conn and closes it on Close.
func New(conn net.Conn, cfg Config) (*Net, error) {
	if err := cfg.fill(); err != nil {
		return nil, err
	}
	st := stack.New(stack.Options{
		NetworkProtocols:   []stack.NetworkProtocolFactory{ipv4.NewProtocol, arp.NewProtocol},
		TransportProtocols: []stack.TransportProtocolFactory{tcp.NewProtocol},
	})
	sack := tcpip.TCPSACKEnabled(true)
	st.SetTransportProtocolOption(tcp.ProtocolNumber, &sack)
	// Loss is found by duplicate ACKs, SACK and the retransmission timer,
	// not RACK-TLP: gVisor's tail-loss probe restarts the retransmission
	// timer whenever the application writes while the congestion window
	// is full, so a sender that keeps writing never times out. After a
	// migration's switchover lost a window of segments, the stream then
	// stalled until the send buffer was full, about 4 s at the demo's
	// rate (docs/decisions.md).
	recovery := tcpip.TCPRecovery(0)
	st.SetTransportProtocolOption(tcp.ProtocolNumber, &recovery)

	link := channel.New(txQueue, uint32(cfg.MTU+header.EthernetMinimumSize), tcpip.LinkAddress(cfg.MAC))
	if err := st.CreateNIC(nicID, ethernet.New(link)); err != nil {
		st.Close()
		return nil, fmt.Errorf("hostnet: creating the NIC: %v", err)
	}
	local := tcpip.AddrFrom4(cfg.Addr.Addr().As4())
	ctx, cancel := context.WithCancel(context.Background())
	n := &Net{cfg: cfg, conn: conn, st: st, link: link, local: local, ctx: ctx, cancel: cancel}
	// Receive first, so the probe hears answers; transmit only after the
	// probe, which writes to conn itself.
	n.wg.Add(1)
	go n.receive()
	err := n.probe()
	n.wg.Add(1)
	go n.transmit()
	if err != nil {
		n.Close()
		return nil, err
	}
	pa := tcpip.ProtocolAddress{
		Protocol:          ipv4.ProtocolNumber,
		AddressWithPrefix: tcpip.AddressWithPrefix{Address: local, PrefixLen: cfg.Addr.Bits()},
	}
	if err := st.AddProtocolAddress(nicID, pa, stack.AddressProperties{}); err != nil {
		n.Close()
		return nil, fmt.Errorf("hostnet: adding address %v: %v", cfg.Addr, err)
	}
	st.SetRouteTable([]tcpip.Route{{Destination: pa.AddressWithPrefix.Subnet(), NIC: nicID}})
	return n, nil
}

// Addr is this stack's address on the link.
func (n *Net) Addr() netip.Addr { return n.cfg.Addr.Addr() }

// MAC is this stack's Ethernet address.
func (n *Net) MAC() net.HardwareAddr { return n.cfg.MAC }

// MTU is this stack's IP MTU.
func (n *Net) MTU() int { return n.cfg.MTU }

// Stats returns the link counters.
func (n *Net) Stats() Stats {
	tcp := n.st.Stats().TCP
	return Stats{
		TxFrames: n.txFrames.Load(), TxBytes: n.txBytes.Load(), MaxTxFrame: n.maxTx.Load(),
		RxFrames: n.rxFrames.Load(), RxBytes: n.rxBytes.Load(), MaxRxFrame: n.maxRx.Load(),
		Retransmits: tcp.Retransmits.Value(), Timeouts: tcp.Timeouts.Value(),
	}
}

// Err reports why the link to the switch went down, or nil while it is up.
func (n *Net) Err() error {
	if p := n.err.Load(); p != nil {
		return *p
	}
	return nil
}

// Dial opens a TCP connection to addr ("10.77.0.11:7000") on the link.
func (n *Net) Dial(ctx context.Context, addr string) (net.Conn, error) {
	fa, err := n.parse(addr)
	if err != nil {
		return nil, err
	}
	if err := n.Err(); err != nil {
		return nil, fmt.Errorf("hostnet: dial %s: %w", addr, err)
	}
	c, err := gonet.DialContextTCP(ctx, n.st, fa, ipv4.ProtocolNumber)
	if err != nil {
		switch lerr := n.Err(); {
		case lerr != nil:
			err = fmt.Errorf("%w (%v)", err, lerr)
		case strings.Contains(err.Error(), "no route to host"):
			// gVisor's word for an unanswered ARP request.
			err = fmt.Errorf("%w (nobody answers ARP for %v: is it up and on the switch?)", err, fa.Addr)
		}
		return nil, fmt.Errorf("hostnet: dial %s from %v: %w", addr, n.Addr(), err)
	}
	return c, nil
}

// DialContext is Dial with net.Dialer's signature, for http.Transport;
// network must be "tcp" or "tcp4".
func (n *Net) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	if network != "tcp" && network != "tcp4" {
		return nil, fmt.Errorf("hostnet: dial %s %s: only tcp is supported", network, addr)
	}
	return n.Dial(ctx, addr)
}

// Listen accepts TCP connections to port on this stack's address.
func (n *Net) Listen(port uint16) (net.Listener, error) {
	l, err := gonet.ListenTCP(n.st, tcpip.FullAddress{NIC: nicID, Addr: n.local, Port: port}, ipv4.ProtocolNumber)
	if err != nil {
		return nil, fmt.Errorf("hostnet: listen on %v:%d: %w", n.Addr(), port, err)
	}
	return l, nil
}

func (n *Net) parse(addr string) (tcpip.FullAddress, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return tcpip.FullAddress{}, fmt.Errorf("hostnet: address %q: %v", addr, err)
	}
	ip, err := netip.ParseAddr(host)
	if err != nil || !ip.Is4() {
		return tcpip.FullAddress{}, fmt.Errorf("hostnet: address %q: host must be an IPv4 address on the link", addr)
	}
	if !n.cfg.Addr.Contains(ip) {
		return tcpip.FullAddress{}, fmt.Errorf("hostnet: address %q: not on the link %v (no gateway)", addr, n.cfg.Addr.Masked())
	}
	port, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil || port == 0 {
		return tcpip.FullAddress{}, fmt.Errorf("hostnet: address %q: bad port", addr)
	}
	return tcpip.FullAddress{NIC: nicID, Addr: tcpip.AddrFrom4(ip.As4()), Port: uint16(port)}, nil
}

// Close takes the stack off the link: every connection is reset, the
// switch connection is closed.
func (n *Net) Close() error {
	n.once.Do(func() {
		// Closing the stack resets its connections; let those resets
		// reach the switch so peers do not keep half-open connections.
		n.st.Close()
		for end := time.Now().Add(closeDrain); n.link.NumQueued() > 0 && n.Err() == nil && time.Now().Before(end); {
			time.Sleep(time.Millisecond)
		}
		n.down(errors.New("closed"))
		n.wg.Wait()
		n.link.Close()
		n.st.Wait()
	})
	return nil
}

// down records why the link stopped (first reason wins) and stops both
// directions.
func (n *Net) down(err error) {
	n.err.CompareAndSwap(nil, &err)
	n.cancel()
	n.conn.Close()
}

// transmit writes the stack's outgoing frames to the switch, batching
// frames already queued into one write.
func (n *Net) transmit() {
	defer n.wg.Done()
	w := bufio.NewWriterSize(n.conn, 2*l2switch.MaxFrame)
	for {
		pkt := n.link.ReadContext(n.ctx)
		if pkt == nil {
			return
		}
		for pkt != nil {
			frame := pkt.ToView().AsSlice()
			w.Write(l2switch.AppendFrame(nil, frame)) // errors stick in w
			pkt.DecRef()
			n.txFrames.Add(1)
			n.txBytes.Add(uint64(len(frame)))
			storeMax(&n.maxTx, uint64(len(frame)))
			pkt = n.link.Read()
		}
		if err := w.Flush(); err != nil {
			n.down(fmt.Errorf("writing to the switch at %s: %w", n.conn.RemoteAddr(), err))
			return
		}
	}
}

// receive reads frames from the switch and hands them to the stack.
func (n *Net) receive() {
	defer n.wg.Done()
	r := bufio.NewReaderSize(n.conn, 2*l2switch.MaxFrame)
	for {
		frame, err := l2switch.ReadFrame(r, nil, l2switch.MaxFrame)
		if err != nil {
			if n.ctx.Err() == nil {
				n.cfg.Logf("hostnet %v: link down: reading from the switch at %s: %v", n.Addr(), n.conn.RemoteAddr(), err)
			}
			n.down(fmt.Errorf("reading from the switch at %s: %w", n.conn.RemoteAddr(), err))
			return
		}
		n.rxFrames.Add(1)
		n.rxBytes.Add(uint64(len(frame)))
		storeMax(&n.maxRx, uint64(len(frame)))
		if len(frame) < header.EthernetMinimumSize {
			continue
		}
		if f := n.heard.Load(); f != nil {
			(*f)(frame)
		}
		pkt := stack.NewPacketBuffer(stack.PacketBufferOptions{Payload: buffer.MakeWithData(frame)})
		n.link.InjectInbound(0, pkt)
		pkt.DecRef()
	}
}

func storeMax(v *atomic.Uint64, x uint64) {
	for {
		old := v.Load()
		if x <= old || v.CompareAndSwap(old, x) {
			return
		}
	}
}

// DialTimeout is a convenience: Dial with a timeout.
func (n *Net) DialTimeout(addr string, d time.Duration) (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	return n.Dial(ctx, addr)
}
