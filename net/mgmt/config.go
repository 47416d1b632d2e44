package mgmt

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/virtionet"
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

// Config is what Up needs. ParseConfig fills MAC, Addr and MTU from the
// board's command line; the caller adds the board's transports.
type Config struct {
	// Transports are the board's virtio-mmio transports
	// (dtb.Board.Virtio); the network device is found by probing them.
	Transports []dtb.VirtioMMIO
	// MAC picks the network device by MAC address ("" = the first
	// -device virtio-net-device on QEMU's command line).
	MAC string
	// Addr is Ferry's address and the link's prefix, e.g. 10.77.0.11/24.
	Addr netip.Prefix
	// MTU is the IP MTU (0 = DefaultMTU).
	MTU int
	// TCP tunes the stack's TCP (nil = DefaultTCP()).
	TCP *TCPTuning
}

// Command-line words (the board's /chosen/bootargs). Ferry's other words
// (ferry.kernel=, ferry.initrd=, ...) and the guest's are ignored, as is
// everything after "--" (the guest's command line).
const (
	wordIP  = "ferry.ip"  // ferry.ip=<IPv4 address>/<prefix length>, required to bring the network up
	wordMAC = "ferry.mac" // ferry.mac=<MAC>, optional: which NIC is Ferry's
	wordMTU = "ferry.mtu" // ferry.mtu=<bytes>, optional
)

// ParseConfig reads Ferry's management-network words from the board's
// command line. Without ferry.ip the returned Config has an invalid Addr
// (!Addr.IsValid()) and the management network is meant to stay down; a
// malformed or repeated word is an error naming it.
func ParseConfig(bootargs string) (Config, error) {
	var c Config
	seen := map[string]bool{}
	for _, w := range strings.Fields(bootargs) {
		if w == "--" {
			break
		}
		key, val, ok := strings.Cut(w, "=")
		if !ok || (key != wordIP && key != wordMAC && key != wordMTU) {
			continue
		}
		if seen[key] {
			return Config{}, fmt.Errorf("mgmt: %s= given twice", key)
		}
		seen[key] = true
		if err := c.set(key, val); err != nil {
			return Config{}, fmt.Errorf("mgmt: %s=%s: %w", key, val, err)
		}
	}
	return c, nil
}

func (c *Config) set(key, val string) error {
	switch key {
	case wordIP:
		p, err := netip.ParsePrefix(val)
		if err != nil {
			return fmt.Errorf("want <IPv4 address>/<prefix length>, e.g. 10.77.0.11/24")
		}
		c.Addr = p
		return checkAddr(p)
	case wordMAC:
		if _, err := parseMAC(val); err != nil {
			return err
		}
		c.MAC = val
	case wordMTU:
		n, err := strconv.Atoi(val)
		if err != nil {
			return fmt.Errorf("not a number")
		}
		c.MTU = n
		return checkMTU(n)
	}
	return nil
}

func checkAddr(p netip.Prefix) error {
	switch {
	case !p.IsValid():
		return fmt.Errorf("no address: set ferry.ip=<IPv4 address>/<prefix length>")
	case !p.Addr().Is4():
		return fmt.Errorf("%v is not an IPv4 address", p.Addr())
	case p.Bits() < 1 || p.Bits() > 30:
		return fmt.Errorf("prefix length %d leaves no room for peers on the link (want 1 to 30)", p.Bits())
	case p.Addr() == p.Masked().Addr():
		return fmt.Errorf("%v is the link's network address", p.Addr())
	case p.Addr() == broadcast(p):
		return fmt.Errorf("%v is the link's broadcast address", p.Addr())
	}
	return nil
}

func broadcast(p netip.Prefix) netip.Addr {
	a := p.Masked().Addr().As4()
	for i := p.Bits(); i < 32; i++ {
		a[i/8] |= 0x80 >> (i % 8)
	}
	return netip.AddrFrom4(a)
}

func checkMTU(n int) error {
	if n < virtionet.MinMTU || n > virtionet.MaxMTU {
		return fmt.Errorf("MTU %d out of range [%d, %d]", n, virtionet.MinMTU, virtionet.MaxMTU)
	}
	return nil
}

func parseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("%q is not a 6-byte MAC address like 52:54:00:77:00:11", s)
	}
	if mac[0]&1 != 0 {
		return nil, fmt.Errorf("%v is a multicast address", mac)
	}
	return mac, nil
}

// check validates a Config as Up receives it.
func (c Config) check() (mac net.HardwareAddr, mtu int, err error) {
	if err := checkAddr(c.Addr); err != nil {
		return nil, 0, fmt.Errorf("mgmt: address %v: %w", c.Addr, err)
	}
	if c.MAC != "" {
		if mac, err = parseMAC(c.MAC); err != nil {
			return nil, 0, fmt.Errorf("mgmt: MAC: %w", err)
		}
	}
	mtu = c.MTU
	if mtu == 0 {
		mtu = DefaultMTU
	}
	if err := checkMTU(mtu); err != nil {
		return nil, 0, fmt.Errorf("mgmt: %w", err)
	}
	return mac, mtu, nil
}
