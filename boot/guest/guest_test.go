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

func virt1G() *dtb.Board {
	return &dtb.Board{
		Memory: []phys.Range{{Base: 0x40000000, Size: 0x40000000}},
		Devices: []phys.Range{
			{Base: 0x0, Size: 0x8000000},           // flash
			{Base: 0x8000000, Size: 0x10000},       // GICD
			{Base: 0x80a0000, Size: 0xf60000},      // GICR
			{Base: 0x9000000, Size: 0x1000},        // UART
			{Base: 0xa000000, Size: 0x200},         // virtio-mmio 0
			{Base: 0xa000200, Size: 0x200},         // virtio-mmio 1
			{Base: 0x4010000000, Size: 0x10000000}, // ECAM
		},
	}
}

func TestPlan(t *testing.T) {
	cfg := Config{Kernel: 0x48200000, InitrdBase: 0x49e00000, InitrdSize: 0x100000, Guest: "console=ttyAMA0"}
	owned := []Owned{{Path: "/virtio_mmio@a000200", Reg: phys.Range{Base: 0xa000200, Size: 0x200}},
		{Reg: phys.Range{Base: 0x9000000, Size: 0x1000}}} // a trapped page: unmapped, node kept
	l, err := Plan(virt1G(), cfg, ImageHeader{ImageSize: 0x1ab0000}, 0x48000000, owned)
	if err != nil {
		t.Fatal(err)
	}
	if len(l.RAM) != 1 || l.RAM[0] != (phys.Range{Base: 0x48000000, Size: 0x38000000}) {
		t.Fatalf("guest RAM %v", l.RAM)
	}
	if l.DTB != 0x48000000 || l.Kernel != 0x48200000 || l.KernelEnd != 0x49cb0000 {
		t.Fatalf("layout %+v", l)
	}
	if l.Patch.InitrdStart != 0x49e00000 || l.Patch.InitrdEnd != 0x49f00000 || l.Patch.Bootargs != "console=ttyAMA0" {
		t.Fatalf("patch %+v", l.Patch)
	}
	if len(l.Patch.RemoveNodes) != 1 || l.Patch.RemoveNodes[0] != "/virtio_mmio@a000200" {
		t.Fatalf("owned device not removed: %v", l.Patch.RemoveNodes)
	}
	// The owned device's page is not mapped; its neighbour on the same
	// page is not either (pages are the granule), the rest are.
	mapped := func(a uint64) (Mapping, bool) {
		for _, m := range l.Stage2 {
			if a >= m.Base && a < m.End() {
				return m, true
			}
		}
		return Mapping{}, false
	}
	for addr, want := range map[uint64]bool{0x9000000: false, 0x9001000: false, 0x8000000: true, 0xa000200: false, 0xa001000: false, 0x80a0000: true,
		0x4010000000: true, 0x40000000: false, 0x47ffffff: false, 0x48000000: true, 0x7fffffff: true, 0x80000000: false} {
		if _, ok := mapped(addr); ok != want {
			t.Errorf("%#x mapped = %v, want %v", addr, ok, want)
		}
	}
	if m, _ := mapped(0x48000000); m.Device {
		t.Error("RAM mapped as device")
	}
	if m, _ := mapped(0x8000000); !m.Device {
		t.Error("GIC mapped as RAM")
	}
	for i := 1; i < len(l.Stage2); i++ {
		if l.Stage2[i].Base < l.Stage2[i-1].End() {
			t.Fatalf("stage-2 regions overlap: %v", l.Stage2)
		}
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
		if _, err := Plan(virt1G(), c.cfg, hdr, 0x48000000, nil); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, c.want)
		}
	}
	small := &dtb.Board{Memory: []phys.Range{{Base: 0x40000000, Size: 0x8000000}}}
	if _, err := Plan(small, Config{Kernel: 0x48200000}, hdr, 0x48000000, nil); err == nil {
		t.Error("a board with no RAM above the carve-out was accepted")
	}
}
