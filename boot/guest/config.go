package guest

import (
	"fmt"
	"strconv"
	"strings"
)

// Config is Ferry's part of the board's command line (/chosen/bootargs,
// QEMU's -append): words of the form ferry.<key>=<value>. Every other word,
// and everything after a "--", is the guest's command line.
type Config struct {
	Kernel     uint64 // ferry.kernel=<addr>: where the loader put the kernel Image
	InitrdBase uint64 // ferry.initrd=<addr>,<size>: where the loader put the initramfs
	InitrdSize uint64
	Guest      string // the guest's command line
}

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
	if c.Kernel == 0 {
		return Config{}, fmt.Errorf("config: ferry.kernel=<addr> is missing: where was the kernel Image loaded?")
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
		base, size, ok := strings.Cut(val, ",")
		if !ok {
			return fmt.Errorf("%q: want <addr>,<size>", val)
		}
		if c.InitrdBase, err = parseAddr(base); err != nil {
			return err
		}
		c.InitrdSize, err = parseAddr(size)
	default:
		return fmt.Errorf("unknown option (known: kernel, initrd)")
	}
	return err
}

func parseAddr(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 0, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a number", s)
	}
	return v, nil
}
