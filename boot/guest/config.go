package guest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Config is Ferry's part of the board's command line (/chosen/bootargs,
// QEMU's -append): words of the form ferry.<key>=<value>. Every other word,
// and everything after a "--", is the guest's command line.
//
// Without ferry.kernel the board boots no guest: it waits for one to be
// migrated to it (the receive role).
type Config struct {
	Kernel     uint64 // ferry.kernel=<addr>: where the loader put the kernel Image
	InitrdBase uint64 // ferry.initrd=<addr>,<size>: where the loader put the initramfs
	InitrdSize uint64
	Guest      string // the guest's command line

	Name     string       // ferry.name=<name>: the board's name in logs and status
	IP       netip.Prefix // ferry.ip=<addr>/<bits>: management address
	MAC      string       // ferry.mac=<mac>: which virtio-net is the management NIC
	MTU      int          // ferry.mtu=<bytes>: the management link's MTU (0: the default)
	KeysBase uint64       // ferry.keys=<addr>,<size>: the PEM bundle (CA, certificate, key)
	KeysSize uint64

	// Fault is ferry.fault=<step>: a fault-injection point for tests, a
	// step of the migration protocol (migrate.FaultPoints) at which the
	// board says so and holds for a few seconds, for the test to cut its
	// link or kill it there.
	Fault string
}

// Receive reports the receive role: no guest of its own.
func (c Config) Receive() bool { return c.Kernel == 0 }

// ParseConfig splits bootargs into Ferry's configuration and the guest's
// command line. Unknown ferry.* keys and malformed values are errors.
func ParseConfig(bootargs string) (Config, error) {
	var c Config
	var guest []string
	words := strings.Fields(bootargs)
	for i, w := range words {
		if w == "--" {
			guest = append(guest, words[i+1:]...)
			break
		}
		if !strings.HasPrefix(w, "ferry.") {
			guest = append(guest, w)
			continue
		}
		key, val, ok := strings.Cut(strings.TrimPrefix(w, "ferry."), "=")
		if !ok {
			return Config{}, fmt.Errorf("config: %q: want ferry.%s=<value>", w, key)
		}
		if err := c.set(key, val); err != nil {
			return Config{}, fmt.Errorf("config: ferry.%s: %w", key, err)
		}
	}
	if c.Kernel == 0 && (c.InitrdSize != 0 || len(guest) > 0) {
		return Config{}, fmt.Errorf("config: a guest command line or initramfs without ferry.kernel=<addr>: where was the kernel Image loaded?")
	}
	c.Guest = strings.Join(guest, " ")
	return c, nil
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
		c.MAC = val
	case "fault":
		c.Fault = val
	case "mtu":
		var n uint64
		n, err = strconv.ParseUint(val, 10, 16)
		c.MTU = int(n)
	case "ip":
		c.IP, err = netip.ParsePrefix(val)
		if err == nil && !c.IP.Addr().Is4() {
			err = fmt.Errorf("%q: want an IPv4 address with a prefix length", val)
		}
	default:
		return fmt.Errorf("unknown option (known: kernel, initrd, keys, name, mac, mtu, ip, fault)")
	}
	return err
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
