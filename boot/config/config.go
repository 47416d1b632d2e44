// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package config is Ferry's configuration: the ferry.<key>=<value> words of
// the board's command line (/chosen/bootargs, QEMU's -append), split from
// the guest's and parsed in one place, with one set of rules for every
// value (the management network's address, MAC and MTU included).
package config

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
)

// Prefix opens every word of Ferry's.
const Prefix = "ferry."

// The management link's MTU bounds: IPv4's minimum reassembly size (RFC
// 791) to the largest IPv4 packet (its total length is 16 bits).
const (
	MinMTU = 576
	MaxMTU = 65535
)

// Config is Ferry's part of the board's command line. Every word that is
// not ferry.<key>=<value>, and everything after a "--", is the guest's
// command line.
//
// Without ferry.kernel the board boots no guest: it waits for one to be
// migrated to it (the receive role).
type Config struct {
	Kernel     uint64 // ferry.kernel=<addr>: where the loader put the kernel Image
	InitrdBase uint64 // ferry.initrd=<addr>,<size>: where the loader put the initramfs
	InitrdSize uint64 // (or /chosen's initramfs: WithChosenInitrd)
	Guest      string // the guest's command line

	Name     string       // ferry.name=<name>: the board's name in logs and status
	IP       netip.Prefix // ferry.ip=<addr>/<bits>: management address (CheckIP)
	MAC      string       // ferry.mac=<mac>: which virtio-net is the management NIC (ParseMAC)
	MTU      int          // ferry.mtu=<bytes>: the management link's MTU, MinMTU to MaxMTU (0: the default)
	KeysBase uint64       // ferry.keys=<addr>,<size>: the PEM bundle (CA, certificate, key)
	KeysSize uint64

	// Fault is ferry.fault=<step>: a fault-injection point for tests, a
	// step of the migration protocol (migrate.FaultPoints) at which the
	// board says so and holds for a few seconds, for the test to cut its
	// link or kill it there.
	Fault string

	// CPUs is ferry.cpus=<n>|all: how many of the board's CPUs Ferry
	// runs on, the boot CPU counted; 0 (all) is every one its DTB lists.
	// The default is 1, the boot CPU alone, until Ferry's SMP is whole
	// (docs/smp.md).
	CPUs int
	// SelfTest is ferry.selftest=<check>: a check run at boot for tests;
	// "smp" has every secondary CPU allocate and drop memory while the
	// guest boots, so that the runtime stops the world across CPUs.
	SelfTest string

	// Extra holds the words of the key prefixes Parse was told another
	// program owns (e.g. ferry-nettest's "nettest"), by key.
	Extra map[string]string
}

// Receive reports the receive role: no guest of its own.
func (c Config) Receive() bool { return c.Kernel == 0 }

// known are Ferry's keys, for the error naming them.
const known = "kernel, initrd, keys, name, mac, mtu, ip, fault, cpus, selftest"

// Parse splits bootargs into Ferry's configuration and the guest's command
// line. A key that starts with one of own (another program's, e.g.
// "nettest" for ferry.nettest and ferry.nettest.*) goes to Extra; any
// other unknown key, a malformed value, a ferry.<key> without "=" and a
// key given twice are errors naming the word.
func Parse(bootargs string, own ...string) (Config, error) {
	c := Config{Extra: map[string]string{}, CPUs: 1}
	var guest []string
	seen := map[string]bool{}
	words := strings.Fields(bootargs)
	for i, w := range words {
		if w == "--" {
			guest = append(guest, words[i+1:]...)
			break
		}
		if !strings.HasPrefix(w, Prefix) {
			guest = append(guest, w)
			continue
		}
		key, val, ok := strings.Cut(strings.TrimPrefix(w, Prefix), "=")
		if !ok {
			return Config{}, fmt.Errorf("config: %q: want %s%s=<value>", w, Prefix, key)
		}
		if seen[key] {
			return Config{}, fmt.Errorf("config: %s%s= given twice", Prefix, key)
		}
		seen[key] = true
		if owned(key, own) {
			c.Extra[key] = val
			continue
		}
		if err := c.set(key, val); err != nil {
			return Config{}, fmt.Errorf("config: %s%s=%s: %w", Prefix, key, val, err)
		}
	}
	if c.Kernel == 0 && (c.InitrdSize != 0 || len(guest) > 0) {
		return Config{}, fmt.Errorf("config: a guest command line or initramfs without ferry.kernel=<addr>: where was the kernel Image loaded?")
	}
	c.Guest = strings.Join(guest, " ")
	return c, nil
}

// WithChosenInitrd takes the initramfs the loader handed Ferry in its
// DTB's /chosen (linux,initrd-start, -end: QEMU's -initrd, U-Boot's booti
// <kernel> <initrd> <fdt>) as the guest's when no ferry.initrd= word says
// otherwise: a word wins, and the loader's is left unused. end == 0: the
// loader passed none. It says which one the guest gets, for the log.
// Whether the initramfs lies in guest RAM, clear of Ferry's carve-out, the
// kernel and the guest DTB's slot, is the boot plan's check (guest.Plan).
func (c Config) WithChosenInitrd(start, end uint64) (Config, string, error) {
	switch {
	case end == 0 && start == 0:
		if c.InitrdSize != 0 {
			return c, "ferry.initrd=", nil
		}
		return c, "none", nil
	case end <= start:
		return Config{}, "", fmt.Errorf("config: the loader's initramfs [%#x, %#x) in /chosen is empty or reversed", start, end)
	case c.InitrdSize != 0:
		return c, fmt.Sprintf("ferry.initrd= (the loader's [%#x, %#x) in /chosen left unused)", start, end), nil
	case c.Receive():
		return Config{}, "", fmt.Errorf("config: the loader passed an initramfs [%#x, %#x) (/chosen) but there is no ferry.kernel=<addr>: where was the kernel Image loaded?", start, end)
	}
	c.InitrdBase, c.InitrdSize = start, end-start
	return c, "the loader's, from /chosen", nil
}

func owned(key string, own []string) bool {
	for _, p := range own {
		if key == p || strings.HasPrefix(key, p+".") {
			return true
		}
	}
	return false
}

func (c *Config) set(key, val string) error {
	var err error
	switch key {
	case "kernel":
		c.Kernel, err = parseAddr(val)
	case "initrd":
		c.InitrdBase, c.InitrdSize, err = parseRange(val)
	case "keys":
		c.KeysBase, c.KeysSize, err = parseRange(val)
	case "name":
		c.Name = val
	case "mac":
		_, err = ParseMAC(val)
		c.MAC = val
	case "fault":
		c.Fault = val
	case "cpus":
		if val == "all" {
			c.CPUs = 0
		} else if c.CPUs, err = strconv.Atoi(val); err != nil || c.CPUs < 1 {
			return fmt.Errorf("want a number of CPUs, 1 or more, or all")
		}
	case "selftest":
		if val != "smp" {
			return fmt.Errorf("want smp")
		}
		c.SelfTest = val
	case "mtu":
		if c.MTU, err = strconv.Atoi(val); err != nil {
			return fmt.Errorf("not a number")
		}
		err = CheckMTU(c.MTU)
	case "ip":
		if c.IP, err = netip.ParsePrefix(val); err != nil {
			return fmt.Errorf("want <IPv4 address>/<prefix length>, e.g. 10.77.0.11/24")
		}
		err = CheckIP(c.IP)
	default:
		return fmt.Errorf("unknown option (known: %s)", known)
	}
	return err
}

// CheckIP accepts an IPv4 address with a prefix that leaves room for peers
// on the link, neither the link's network nor its broadcast address.
func CheckIP(p netip.Prefix) error {
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

// CheckMTU accepts MinMTU to MaxMTU.
func CheckMTU(n int) error {
	if n < MinMTU || n > MaxMTU {
		return fmt.Errorf("MTU %d out of range [%d, %d]", n, MinMTU, MaxMTU)
	}
	return nil
}

// ParseMAC accepts a 6-byte unicast MAC address.
func ParseMAC(s string) (net.HardwareAddr, error) {
	mac, err := net.ParseMAC(s)
	if err != nil || len(mac) != 6 {
		return nil, fmt.Errorf("%q is not a 6-byte MAC address like 52:54:00:77:00:11", s)
	}
	if mac[0]&1 != 0 {
		return nil, fmt.Errorf("%v is a multicast address", mac)
	}
	return mac, nil
}

func parseRange(val string) (base, size uint64, err error) {
	b, s, ok := strings.Cut(val, ",")
	if !ok {
		return 0, 0, fmt.Errorf("%q: want <addr>,<size>", val)
	}
	if base, err = parseAddr(b); err != nil {
		return 0, 0, err
	}
	size, err = parseAddr(s)
	return base, size, err
}

func parseAddr(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}
