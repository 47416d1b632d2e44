// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/ferry-hv/ferry/boot/config"
	"github.com/ferry-hv/ferry/boot/dtb"
)

// DefaultMTU is the management link's IP MTU unless ferry.mtu= says
// otherwise: the largest IPv4 packet, which QEMU's virtio-net and socket
// netdev carry in one frame without mergeable buffers (a 65561-byte
// receive buffer per frame). TCP throughput over the emulated link is
// bound by per-packet cost, so the fewest, largest packets win: 8-12x the
// throughput of MTU 1500 and 2-3x that of 9000 (cmd/ferry-nettest/README.md).
// TCP peers with a smaller MTU (ferryctl's 1500) still interoperate: each
// side's SYN advertises its MSS.
const DefaultMTU = 65535

// Config is what Up needs: the board's transports and, from Ferry's
// configuration (boot/config: ferry.ip=, ferry.mac=, ferry.mtu=), the
// address, MAC and MTU.
type Config struct {
	// Transports are the board's virtio-mmio transports
	// (dtb.Board.Virtio); the network device is found by probing them.
	Transports []dtb.VirtioMMIO
	// MAC picks the virtio network device by MAC address ("" = the first
	// -device virtio-net-device on QEMU's command line); on a NIC that
	// takes any address (the ENET: UpENET), it is the address to use.
	MAC string
	// Addr is Ferry's address and the link's prefix, e.g. 10.77.0.11/24.
	Addr netip.Prefix
	// MTU is the IP MTU (0 = DefaultMTU on virtio-net, the NIC's
	// largest on another).
	MTU int
	// TCP tunes the stack's TCP (nil = DefaultTCP()).
	TCP *TCPTuning
}

// check validates a Config as Up receives it, the MTU defaulting to
// DefaultMTU.
func (c Config) check() (mac net.HardwareAddr, mtu int, err error) {
	return c.checkMTU(DefaultMTU)
}

// checkMTU is check with the NIC's default MTU.
func (c Config) checkMTU(defaultMTU int) (mac net.HardwareAddr, mtu int, err error) {
	if err := config.CheckIP(c.Addr); err != nil {
		return nil, 0, fmt.Errorf("mgmt: address %v: %w", c.Addr, err)
	}
	if c.MAC != "" {
		if mac, err = config.ParseMAC(c.MAC); err != nil {
			return nil, 0, fmt.Errorf("mgmt: MAC: %w", err)
		}
	}
	mtu = c.MTU
	if mtu == 0 {
		mtu = defaultMTU
	}
	if err := config.CheckMTU(mtu); err != nil {
		return nil, 0, fmt.Errorf("mgmt: %w", err)
	}
	return mac, mtu, nil
}
