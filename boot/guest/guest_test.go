package guest

import (
	"encoding/binary"
	"github.com/ferry-hv/ferry/phys"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
)

func image(textOffset, size, flags uint64) []byte {
	b := make([]byte, ImageHeaderSize)
	binary.LittleEndian.PutUint64(b[8:], textOffset)
	binary.LittleEndian.PutUint64(b[16:], size)
	binary.LittleEndian.PutUint64(b[24:], flags)
	binary.LittleEndian.PutUint32(b[56:], ImageMagic)
	return b
}

func TestParseImageHeader(t *testing.T) {
	h, err := ParseImageHeader(image(0, 0x1ab0000, 0xa))
	if err != nil || h.ImageSize != 0x1ab0000 || h.Flags != 0xa {
		t.Fatalf("%+v %v", h, err)
	}
	bad := map[string][]byte{
		"truncated":  image(0, 1, 0)[:40],
		"no magic":   append(image(0, 1, 0)[:56], 'g', 'z', 0, 0, 0, 0, 0, 0),
		"no size":    image(0, 0, 0),
		"big-endian": image(0, 1, 1),
	}
	for name, b := range bad {
		if _, err := ParseImageHeader(b); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestParseConfig(t *testing.T) {
	c, err := ParseConfig("ferry.kernel=0x48200000 ferry.initrd=0x49e00000,0x10615a console=ttyAMA0 -- quiet ferry.notmine=1")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Kernel: 0x48200000, InitrdBase: 0x49e00000, InitrdSize: 0x10615a, Guest: "console=ttyAMA0 quiet ferry.notmine=1"}
	if c != want {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
	for in, errWant := range map[string]string{
		"console=ttyAMA0":                        "without ferry.kernel",
		"ferry.ip=10.0.0.1":                      "no '/'",
		"ferry.ip=fe80::1/64":                    "IPv4",
		"ferry.kernel=0x1 ferry.bogus=2":         "unknown option",
		"ferry.kernel=zz":                        "not a number",
		"ferry.kernel=0x1 ferry.initrd=0x2":      "want <addr>,<size>",
		"ferry.kernel":                           "want ferry.kernel=<value>",
		"ferry.kernel=0x1 ferry.initrd=0x2,0xq1": "not a number",
	} {
		if _, err := ParseConfig(in); err == nil || !strings.Contains(err.Error(), errWant) {
			t.Errorf("%q: error %v, want one containing %q", in, err, errWant)
		}
	}
}

func TestParseConfigReceiveRole(t *testing.T) {
	c, err := ParseConfig("ferry.name=b ferry.ip=10.77.0.12/24 ferry.mac=52:54:00:77:00:12 ferry.keys=0x47f00000,0x300")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Receive() || c.Name != "b" || c.IP.String() != "10.77.0.12/24" || c.MAC != "52:54:00:77:00:12" || c.KeysBase != 0x47f00000 || c.KeysSize != 0x300 {
		t.Fatalf("%+v", c)
	}
}

// guestRAM is the QEMU board's 1 GiB less Ferry's 128 MiB carve-out.
var guestRAM = []phys.Range{{Base: 0x48000000, Size: 0x38000000}}

func TestPlan(t *testing.T) {
	cfg := Config{Kernel: 0x48200000, InitrdBase: 0x49e00000, InitrdSize: 0x100000, Guest: "console=ttyAMA0"}
	l, err := Plan(guestRAM, cfg, ImageHeader{ImageSize: 0x1ab0000})
	if err != nil {
		t.Fatal(err)
	}
	if l.DTB != 0x48000000 || l.Kernel != 0x48200000 || l.KernelEnd != 0x49cb0000 {
		t.Fatalf("layout %+v", l)
	}
	machine := dtb.Patch{Memory: guestRAM, RemoveNodes: []string{"/fw-cfg@9020000"}}
	p := l.Patch(machine)
	if p.InitrdStart != 0x49e00000 || p.InitrdEnd != 0x49f00000 || p.Bootargs != "console=ttyAMA0" {
		t.Fatalf("patch %+v", p)
	}
	if len(p.RemoveNodes) != 1 || len(p.Memory) != 1 {
		t.Fatalf("the machine's part of the patch changed: %+v", p)
	}
	if p := (&Layout{}).Patch(machine); p.InitrdEnd != 0 || p.Bootargs != "" {
		t.Fatalf("no initramfs, no command line: %+v", p)
	}
}

func TestPlanRejects(t *testing.T) {
	hdr := ImageHeader{ImageSize: 0x1ab0000}
	cases := map[string]struct {
		cfg  Config
		want string
	}{
		"kernel misaligned":   {Config{Kernel: 0x48201000}, "2 MiB aligned"},
		"kernel over the DTB": {Config{Kernel: 0x48000000}, "overlaps"},
		"kernel in carve-out": {Config{Kernel: 0x40200000}, "not inside guest RAM"},
		"kernel past RAM":     {Config{Kernel: 0x7fe00000}, "not inside guest RAM"},
		"initrd over kernel":  {Config{Kernel: 0x48200000, InitrdBase: 0x49000000, InitrdSize: 0x1000}, "overlaps"},
		"initrd past RAM":     {Config{Kernel: 0x48200000, InitrdBase: 0x7ff00000, InitrdSize: 0x200000}, "not inside guest RAM"},
	}
	for name, c := range cases {
		if _, err := Plan(guestRAM, c.cfg, hdr); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	small := []phys.Range{{Base: 0x48000000, Size: 0x200000}}
	if _, err := Plan(small, Config{Kernel: 0x48200000}, hdr); err == nil {
		t.Error("guest RAM with no room for a kernel was accepted")
	}
}
