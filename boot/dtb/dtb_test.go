// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dtb

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/dt"
)

// -dtb.out=DIR writes the blobs produced by TestApply to DIR so they can be
// checked by hand with dtc (see check-dtc.sh).
var outDir = flag.String("dtb.out", "", "write patched DTBs produced by the tests to this directory")

var testDTBs = []string{"virt-gicv3-1g.dtb", "virt-gicv3-512m.dtb", "virt-gicv3-1g-2nic.dtb"}

func readDTB(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// nodeProps flattens a blob into path -> property name -> value, using dt
// directly (independently of Parse).
func nodeProps(tb testing.TB, blob []byte) map[string]map[string][]byte {
	tb.Helper()
	f, err := dt.ReadFDT(bytes.NewReader(blob))
	if err != nil {
		tb.Fatalf("dt.ReadFDT: %v", err)
	}
	out := map[string]map[string][]byte{}
	var visit func(n *dt.Node, path string)
	visit = func(n *dt.Node, path string) {
		if _, dup := out[path]; dup {
			tb.Fatalf("duplicate node %s", path)
		}
		props := map[string][]byte{}
		for _, p := range n.Properties {
			if _, dup := props[p.Name]; dup {
				tb.Fatalf("duplicate property %s/%s", path, p.Name)
			}
			props[p.Name] = p.Value
		}
		out[path] = props
		for _, c := range n.Children {
			visit(c, strings.TrimSuffix(path, "/")+"/"+c.Name)
		}
	}
	visit(f.RootNode, "/")
	return out
}

// mutate edits a blob with dt directly, to build inputs Apply cannot.
func mutate(tb testing.TB, blob []byte, fn func(f *dt.FDT)) []byte {
	tb.Helper()
	f, err := dt.ReadFDT(bytes.NewReader(blob))
	if err != nil {
		tb.Fatal(err)
	}
	fn(f)
	var buf bytes.Buffer
	if _, err := f.Write(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func findNode(root *dt.Node, path string) *dt.Node {
	n := root
	for _, c := range strings.Split(strings.Trim(path, "/"), "/") {
		if c == "" {
			continue
		}
		if n = exactChild(n, c); n == nil {
			return nil
		}
	}
	return n
}

func covered(rs []phys.Range, r phys.Range) bool {
	for _, x := range rs {
		if r.Base >= x.Base && r.End() <= x.End() {
			return true
		}
	}
	return false
}

func overlaps(rs []phys.Range, r phys.Range) bool {
	for _, x := range rs {
		if r.Base < x.End() && x.Base < r.End() {
			return true
		}
	}
	return false
}

func wantVirtio() []VirtioMMIO {
	var vs []VirtioMMIO
	for i := uint64(0); i < 32; i++ {
		base := 0xa000000 + 0x200*i
		vs = append(vs, VirtioMMIO{Path: fmt.Sprintf("/virtio_mmio@%x", base), Reg: phys.Range{base, 0x200}, SPI: 16 + uint32(i)})
	}
	return vs
}

func TestParseQEMUVirt(t *testing.T) {
	for _, tc := range []struct {
		file string
		mem  []phys.Range
	}{
		{"virt-gicv3-1g.dtb", []phys.Range{{0x40000000, 0x40000000}}},
		{"virt-gicv3-512m.dtb", []phys.Range{{0x40000000, 0x20000000}}},
		{"virt-gicv3-1g-2nic.dtb", []phys.Range{{0x40000000, 0x40000000}}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			blob := readDTB(t, tc.file)
			b, err := Parse(blob)
			if err != nil {
				t.Fatal(err)
			}
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("Memory", b.Memory, tc.mem)
			check("UART", b.UART, phys.Range{0x9000000, 0x1000})
			check("UARTPath", b.UARTPath, "/pl011@9000000")
			check("UARTCompatible", b.UARTCompatible, []string{"arm,pl011", "arm,primecell"})
			check("GICD", b.GICD, phys.Range{0x8000000, 0x10000})
			check("GICR.Base", b.GICR.Base, uint64(0x80a0000))
			node := func(c string) Device {
				t.Helper()
				i := slices.IndexFunc(b.Devices, func(d Device) bool { return d.Is(c) })
				if i < 0 {
					t.Fatalf("no %q device in %+v", c, b.Devices)
				}
				return b.Devices[i]
			}
			if its := node("arm,gic-v3-its"); !reflect.DeepEqual(its.Regs, []phys.Range{{0x8080000, 0x20000}}) || its.Path != "/intc@8000000/its@8080000" {
				t.Errorf("ITS = %+v", its)
			}
			if b.RTC != (phys.Range{0x9010000, 0x1000}) {
				t.Errorf("RTC = %v", b.RTC)
			}
			if fw := node("qemu,fw-cfg-mmio"); !reflect.DeepEqual(fw.Regs, []phys.Range{{0x9020000, 0x18}}) || fw.Path != "/fw-cfg@9020000" {
				t.Errorf("fw-cfg = %+v", fw)
			}
			if gic := node("arm,gic-v3"); len(gic.Regs) < 2 || gic.Regs[0] != b.GICD || gic.Regs[1] != b.GICR {
				t.Errorf("GIC = %+v", gic)
			}
			check("PSCIMethod", b.PSCIMethod, "smc")
			check("NoMap", b.NoMap, []phys.Range(nil))
			check("Virtio", b.Virtio, wantVirtio())
			check("Bootargs", b.Bootargs, "")
			check("len(RNGSeed)", len(b.RNGSeed), 32)
			check("cells", [2]uint32{b.AddressCells, b.SizeCells}, [2]uint32{2, 2})

			mmio := b.MMIO()
			for _, d := range []struct {
				name string
				r    phys.Range
			}{
				{"flash", phys.Range{0, 0x8000000}},
				{"GICD", phys.Range{0x8000000, 0x10000}},
				{"ITS", phys.Range{0x8080000, 0x20000}},
				{"GICR", phys.Range{0x80a0000, 0xf60000}},
				{"UART", phys.Range{0x9000000, 0x1000}},
				{"RTC", phys.Range{0x9010000, 0x1000}},
				{"fw-cfg", phys.Range{0x9020000, 0x18}},
				{"GPIO", phys.Range{0x9030000, 0x1000}},
				{"virtio", phys.Range{0xa000000, 32 * 0x200}},
				{"PCIe MMIO", phys.Range{0x10000000, 0x2eff0000}},
				{"PCIe PIO", phys.Range{0x3eff0000, 0x10000}},
				{"PCIe ECAM", phys.Range{0x4010000000, 0x10000000}},
				{"PCIe high MMIO", phys.Range{0x8000000000, 0x8000000000}},
			} {
				if !covered(mmio, d.r) {
					t.Errorf("Devices %v do not cover %s %v", mmio, d.name, d.r)
				}
			}
			for _, m := range b.Memory {
				if overlaps(mmio, m) {
					t.Errorf("Devices %v overlap RAM %v", mmio, m)
				}
			}
			// The platform bus window has no reg and no children; CPUs,
			// the timer and PSCI have no MMIO.
			if overlaps(mmio, phys.Range{0xc000000, 0x2000000}) {
				t.Errorf("Devices %v include the empty platform bus", mmio)
			}
			want := []phys.Range{
				{0, 0x8010000},                     // flash + GICD
				{0x8080000, 0x9001000 - 0x8080000}, // ITS + GICR (ends at 0x9000000) + UART
				{0x9010000, 0x1000},                // RTC
				{0x9020000, 0x18},                  // fw-cfg
				{0x9030000, 0x1000},                // GPIO
				{0xa000000, 0x4000},
				{0x10000000, 0x2f000000},
				{0x4010000000, 0x10000000},
				{0x8000000000, 0x8000000000},
			}
			check("MMIO", mmio, want)
		})
	}
}

func TestApply(t *testing.T) {
	for _, file := range testDTBs {
		t.Run(file, func(t *testing.T) {
			blob := readDTB(t, file)
			orig := slices.Clone(blob)
			before, err := Parse(blob)
			if err != nil {
				t.Fatal(err)
			}
			seed := bytes.Repeat([]byte{0xa5, 0x5a, 0x01, 0x02}, 16)
			const removed = "/virtio_mmio@a003e00"
			p := Patch{
				Memory:      []phys.Range{{0x48000000, 0x38000000}},
				RemoveNodes: []string{removed},
				InitrdStart: 0x4c000000,
				InitrdEnd:   0x4c123456,
				Bootargs:    "console=ttyAMA0 earlycon",
				RNGSeed:     seed,
				Reserve:     []phys.Range{{0x48000000, 0x10000}, {0x7ff00000, 0x100000}},
			}
			out, err := Apply(blob, p)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(blob, orig) {
				t.Fatal("Apply modified its input")
			}
			if *outDir != "" {
				if err := os.WriteFile(filepath.Join(*outDir, "patched-"+file), out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			checkHeader(t, out)

			// The FDT as seen by dt: memreserve block.
			f, err := dt.ReadFDT(bytes.NewReader(out))
			if err != nil {
				t.Fatal(err)
			}
			wantRsv := []dt.ReserveEntry{{Address: 0x48000000, Size: 0x10000}, {Address: 0x7ff00000, Size: 0x100000}}
			if !reflect.DeepEqual(f.ReserveEntries, wantRsv) {
				t.Errorf("memreserve = %v, want %v", f.ReserveEntries, wantRsv)
			}

			after, err := Parse(out)
			if err != nil {
				t.Fatalf("re-Parse: %v", err)
			}
			if want := []phys.Range{{0x48000000, 0x38000000}}; !reflect.DeepEqual(after.Memory, want) {
				t.Errorf("Memory = %v, want %v", after.Memory, want)
			}
			wantV := wantVirtio()[:31]
			if !reflect.DeepEqual(after.Virtio, wantV) {
				t.Errorf("Virtio = %v, want %v", after.Virtio, wantV)
			}
			if after.Bootargs != p.Bootargs {
				t.Errorf("Bootargs = %q", after.Bootargs)
			}
			if !bytes.Equal(after.RNGSeed, seed) {
				t.Errorf("RNGSeed = %x", after.RNGSeed)
			}
			if after.InitrdStart != p.InitrdStart || after.InitrdEnd != p.InitrdEnd {
				t.Errorf("initrd [%#x, %#x), want [%#x, %#x)", after.InitrdStart, after.InitrdEnd, p.InitrdStart, p.InitrdEnd)
			}
			// Everything else is unchanged.
			same := *after
			same.Memory, same.Virtio, same.Bootargs, same.RNGSeed = before.Memory, before.Virtio, before.Bootargs, before.RNGSeed
			same.InitrdStart, same.InitrdEnd = before.InitrdStart, before.InitrdEnd
			same.Devices = slices.DeleteFunc(slices.Clone(before.Devices), func(d Device) bool { return d.Path == removed })
			if len(same.Devices) != len(before.Devices)-1 || !reflect.DeepEqual(same.Devices, after.Devices) {
				t.Errorf("Devices after the patch = %+v, want the firmware's without %s", after.Devices, removed)
			}
			same.Devices = before.Devices
			if !reflect.DeepEqual(&same, before) {
				t.Errorf("re-Parse differs beyond the patch:\n got %+v\nwant %+v", &same, before)
			}
			if covered(after.MMIO(), phys.Range{0xa003e00, 0x200}) {
				t.Errorf("Devices %v still cover the removed transport", after.MMIO())
			}

			// Node by node, property by property.
			old, got := nodeProps(t, blob), nodeProps(t, out)
			want := map[string]map[string][]byte{}
			for path, props := range old {
				want[path] = props
			}
			delete(want, removed)
			delete(want, "/memory@40000000")
			want["/memory@48000000"] = map[string][]byte{
				"device_type": []byte("memory\x00"),
				"reg":         {0, 0, 0, 0, 0x48, 0, 0, 0, 0, 0, 0, 0, 0x38, 0, 0, 0},
			}
			chosen := map[string][]byte{}
			for k, v := range old["/chosen"] {
				chosen[k] = v
			}
			chosen["bootargs"] = []byte("console=ttyAMA0 earlycon\x00")
			chosen["linux,initrd-start"] = []byte{0, 0, 0, 0, 0x4c, 0, 0, 0}
			chosen["linux,initrd-end"] = []byte{0, 0, 0, 0, 0x4c, 0x12, 0x34, 0x56}
			chosen["rng-seed"] = seed
			chosen["kaslr-seed"] = seed[:8]
			want["/chosen"] = chosen
			if len(got) != len(old)-1 {
				t.Errorf("%d nodes after removing 1 of %d", len(got), len(old))
			}
			diffProps(t, got, want)

			// Order is kept: memory node where the old one was.
			oi, ni := childIndex(t, blob, "memory@40000000"), childIndex(t, out, "memory@48000000")
			if oi != ni {
				t.Errorf("memory node moved from index %d to %d", oi, ni)
			}
		})
	}
}

func childIndex(t *testing.T, blob []byte, name string) int {
	f, err := dt.ReadFDT(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	return slices.IndexFunc(f.RootNode.Children, func(n *dt.Node) bool { return n.Name == name })
}

func diffProps(t *testing.T, got, want map[string]map[string][]byte) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, path := range paths {
		g, gok := got[path]
		w, wok := want[path]
		switch {
		case !gok:
			t.Errorf("node %s missing", path)
			continue
		case !wok:
			t.Errorf("unexpected node %s", path)
			continue
		}
		for name, wv := range w {
			if gv, ok := g[name]; !ok {
				t.Errorf("%s: property %s missing", path, name)
			} else if !bytes.Equal(gv, wv) {
				t.Errorf("%s: %s = %x, want %x", path, name, gv, wv)
			}
		}
		for name := range g {
			if _, ok := w[name]; !ok {
				t.Errorf("%s: unexpected property %s", path, name)
			}
		}
	}
}

// checkHeader verifies the FDT header of a blob written by Apply: version 17,
// and blocks that exactly tile totalsize.
func checkHeader(t *testing.T, out []byte) {
	t.Helper()
	be := binary.BigEndian
	h := func(i int) uint32 { return be.Uint32(out[4*i:]) }
	magic, total, offStruct, offStrings, offRsv, version, lastComp := h(0), h(1), h(2), h(3), h(4), h(5), h(6)
	sizeStrings, sizeStruct := h(8), h(9)
	switch {
	case magic != 0xd00dfeed:
		t.Errorf("magic %#x", magic)
	case version != 17 || lastComp != 16:
		t.Errorf("version %d last_comp %d, want 17 16", version, lastComp)
	case int(total) != len(out):
		t.Errorf("totalsize %d, blob %d", total, len(out))
	case offRsv < 40 || offRsv%8 != 0 || offRsv >= offStruct:
		t.Errorf("off_mem_rsvmap %#x, off_dt_struct %#x", offRsv, offStruct)
	case offStruct%4 != 0 || offStruct+sizeStruct != offStrings:
		t.Errorf("struct %#x+%#x, strings at %#x", offStruct, sizeStruct, offStrings)
	case offStrings+sizeStrings != total:
		t.Errorf("strings %#x+%#x, totalsize %#x", offStrings, sizeStrings, total)
	case be.Uint32(out[offStruct+sizeStruct-4:]) != tokEnd:
		t.Errorf("structure block does not end with FDT_END")
	}
}

func TestApplySeeds(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	for _, tc := range []struct {
		name      string
		seed      []byte
		wantRNG   []byte // nil: absent
		wantKASLR []byte
	}{
		{"nil removes the firmware's seeds", nil, nil, nil},
		{"empty removes the firmware's seeds", []byte{}, nil, nil},
		{"short seed drops kaslr-seed", []byte{1, 2, 3}, []byte{1, 2, 3}, nil},
		{"8 bytes", []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8}, []byte{1, 2, 3, 4, 5, 6, 7, 8}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Apply(blob, Patch{RNGSeed: tc.seed})
			if err != nil {
				t.Fatal(err)
			}
			c := nodeProps(t, out)["/chosen"]
			if g, ok := c["rng-seed"]; ok != (tc.wantRNG != nil) || !bytes.Equal(g, tc.wantRNG) {
				t.Errorf("rng-seed = %x (present %v), want %x", g, ok, tc.wantRNG)
			}
			if g, ok := c["kaslr-seed"]; ok != (tc.wantKASLR != nil) || !bytes.Equal(g, tc.wantKASLR) {
				t.Errorf("kaslr-seed = %x (present %v), want %x", g, ok, tc.wantKASLR)
			}
			// Memory untouched when Patch.Memory is empty.
			b, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if want := []phys.Range{{0x40000000, 0x40000000}}; !reflect.DeepEqual(b.Memory, want) {
				t.Errorf("Memory = %v, want %v", b.Memory, want)
			}
		})
	}
}

// TestParseChosenInitrd: the initramfs a loader put in /chosen (QEMU's
// -initrd, U-Boot's booti) is read in 32 or 64 bits; one property without
// the other, an empty or reversed range and another width are errors.
func TestParseChosenInitrd(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	if b, err := Parse(blob); err != nil || b.InitrdStart != 0 || b.InitrdEnd != 0 {
		t.Fatalf("no initrd: %v %v", b, err)
	}
	with := func(props map[string][]byte) []byte {
		return mutate(t, blob, func(f *dt.FDT) {
			c := findNode(f.RootNode, "/chosen")
			for k, v := range props {
				setProp(c, k, v)
			}
		})
	}
	u32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	u64 := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	for name, tc := range map[string]struct {
		props      map[string][]byte
		start, end uint64
	}{
		"64-bit": {map[string][]byte{"linux,initrd-start": u64(0x48200000), "linux,initrd-end": u64(0x48306f5a)}, 0x48200000, 0x48306f5a},
		"32-bit": {map[string][]byte{"linux,initrd-start": u32(0x48200000), "linux,initrd-end": u32(0x48300000)}, 0x48200000, 0x48300000},
		"mixed":  {map[string][]byte{"linux,initrd-start": u32(0x48200000), "linux,initrd-end": u64(0x1_0000_0000)}, 0x48200000, 0x1_0000_0000},
	} {
		b, err := Parse(with(tc.props))
		if err != nil || b.InitrdStart != tc.start || b.InitrdEnd != tc.end {
			t.Errorf("%s: [%#x, %#x) %v, want [%#x, %#x)", name, b.InitrdStart, b.InitrdEnd, err, tc.start, tc.end)
		}
	}
	for name, props := range map[string]map[string][]byte{
		"start only": {"linux,initrd-start": u64(0x48200000)},
		"end only":   {"linux,initrd-end": u64(0x48200000)},
		"empty":      {"linux,initrd-start": u64(0x48200000), "linux,initrd-end": u64(0x48200000)},
		"reversed":   {"linux,initrd-start": u64(0x48200000), "linux,initrd-end": u64(0x48100000)},
		"3 bytes":    {"linux,initrd-start": {0x48, 0x20, 0}, "linux,initrd-end": u64(0x48300000)},
		"16 bytes":   {"linux,initrd-start": u64(0x48200000), "linux,initrd-end": append(u64(0), u64(0x48300000)...)},
	} {
		if b, err := Parse(with(props)); err == nil {
			t.Errorf("%s: accepted as [%#x, %#x)", name, b.InitrdStart, b.InitrdEnd)
		}
	}
}

func TestApplyInitrdRemovedAndChosenCreated(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	withInitrd, err := Apply(blob, Patch{InitrdStart: 0x50000000, InitrdEnd: 0x51000000, Bootargs: "x"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := Apply(withInitrd, Patch{})
	if err != nil {
		t.Fatal(err)
	}
	c := nodeProps(t, out)["/chosen"]
	for _, p := range []string{"linux,initrd-start", "linux,initrd-end", "bootargs", "rng-seed", "kaslr-seed"} {
		if _, ok := c[p]; ok {
			t.Errorf("/chosen/%s survived", p)
		}
	}
	if _, ok := c["stdout-path"]; !ok {
		t.Error("/chosen/stdout-path lost")
	}

	noChosen := mutate(t, blob, func(f *dt.FDT) {
		f.RootNode.Children = slices.DeleteFunc(f.RootNode.Children, func(n *dt.Node) bool { return n.Name == "chosen" })
	})
	out, err = Apply(noChosen, Patch{Bootargs: "console=hvc0", InitrdStart: 1 << 30, InitrdEnd: 1<<30 + 4096})
	if err != nil {
		t.Fatal(err)
	}
	c, ok := nodeProps(t, out)["/chosen"]
	if !ok {
		t.Fatal("/chosen not created")
	}
	if string(c["bootargs"]) != "console=hvc0\x00" || len(c["linux,initrd-start"]) != 8 || len(c) != 3 {
		t.Errorf("created /chosen = %q", c)
	}
}

func TestApplyErrors(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	for _, tc := range []struct {
		name string
		p    Patch
		want string
	}{
		{"missing node", Patch{RemoveNodes: []string{"/virtio_mmio@a000000", "/virtio_mmio@b000000"}},
			"dtb: remove /virtio_mmio@b000000: no such node"},
		{"unit address required", Patch{RemoveNodes: []string{"/virtio_mmio"}}, "dtb: remove /virtio_mmio: no such node"},
		{"relative path", Patch{RemoveNodes: []string{"chosen"}}, "dtb: remove chosen: no such node"},
		{"root", Patch{RemoveNodes: []string{"/"}}, "dtb: remove /: cannot remove the root node"},
		{"property of a missing node", Patch{RemoveProps: []NodeProp{{"/virtio_mmio@b000000", "reg"}}}, "dtb: remove reg from /virtio_mmio@b000000: no such node"},
		{"initrd backwards", Patch{InitrdStart: 0x5000, InitrdEnd: 0x4000}, "dtb: initrd end 0x4000 is not after start 0x5000"},
		{"empty memreserve", Patch{Reserve: []phys.Range{{0x48000000, 0}}}, "dtb: bad memreserve range [0x48000000-0x48000000)"},
		{"empty memory", Patch{Memory: []phys.Range{{0x48000000, 0}}}, "dtb: bad memory range [0x48000000-0x48000000)"},
		{"memory wraps", Patch{Memory: []phys.Range{{1 << 63, 1 << 63}}}, "dtb: bad memory range"},
		{"NUL in bootargs", Patch{Bootargs: "a\x00b"}, "dtb: bootargs contain a NUL byte"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, err := Apply(blob, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if out != nil {
				t.Fatalf("Apply returned a %d-byte blob with an error", len(out))
			}
		})
	}
	clash := mutate(t, blob, func(f *dt.FDT) {
		f.RootNode.Children = append(f.RootNode.Children, dt.NewNode("memory@50000000"))
	})
	if out, err := Apply(clash, Patch{Memory: []phys.Range{{0x50000000, 0x1000}}}); err == nil || out != nil ||
		!strings.Contains(err.Error(), "dtb: cannot add /memory@50000000") {
		t.Errorf("name clash: err = %v", err)
	}
}

// RemoveProps removes a node's properties and nothing else; one the node
// does not have is no error.
func TestApplyRemoveProps(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	const node = "/virtio_mmio@a000000"
	out, err := Apply(blob, Patch{RemoveProps: []NodeProp{{node, "dma-coherent"}, {node, "no-such-property"}}})
	if err != nil {
		t.Fatal(err)
	}
	props := func(b []byte) map[string]bool {
		f, err := dt.ReadFDT(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		n, ok := f.NodeByName("virtio_mmio@a000000")
		if !ok {
			t.Fatalf("no %s", node)
		}
		m := map[string]bool{}
		for _, p := range n.Properties {
			m[p.Name] = true
		}
		return m
	}
	before, after := props(blob), props(out)
	if !before["dma-coherent"] || after["dma-coherent"] {
		t.Errorf("dma-coherent before %v, after %v", before["dma-coherent"], after["dma-coherent"])
	}
	delete(before, "dma-coherent")
	if !reflect.DeepEqual(before, after) {
		t.Errorf("properties after %v, want %v", after, before)
	}
}

// TestParseSkipsDisabledMemory: the secure RAM QEMU's virt describes with
// secure=on (as firmware with a secure world does: device_type "memory",
// status "disabled", secure-status "okay") is not the OS's RAM.
func TestParseSkipsDisabledMemory(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	reg := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, 0x0e000000), 0x01000000)
	secure := mutate(t, blob, func(f *dt.FDT) {
		f.RootNode.Children = append(f.RootNode.Children, dt.NewNode("secure-ram@e000000", dt.WithProperty(
			dt.PropertyString("device_type", "memory"), dt.Property{Name: "reg", Value: reg},
			dt.PropertyString("status", "disabled"), dt.PropertyString("secure-status", "okay"))))
	})
	b, err := Parse(secure)
	if err != nil {
		t.Fatal(err)
	}
	if want := []phys.Range{{0x40000000, 0x40000000}}; !reflect.DeepEqual(b.Memory, want) {
		t.Fatalf("Memory = %v, want %v (the secure RAM left out)", b.Memory, want)
	}
}

func TestParseErrors(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	be := binary.BigEndian
	withHeader := func(off int, v uint32) []byte {
		b := slices.Clone(blob)
		be.PutUint32(b[off:], v)
		return b
	}
	chosenProp := func(name, val string) []byte {
		return mutate(t, blob, func(f *dt.FDT) {
			c, _ := f.RootNode.LookupChildByName("chosen")
			if val == "" {
				delProp(c, name)
			} else {
				c.UpdateProperty(name, append([]byte(val), 0))
			}
		})
	}
	removeNodes := func(pred func(*dt.Node) bool) []byte {
		return mutate(t, blob, func(f *dt.FDT) {
			f.RootNode.Children = slices.DeleteFunc(f.RootNode.Children, pred)
		})
	}
	deep := mutate(t, blob, func(f *dt.FDT) {
		n := f.RootNode
		for i := 0; i < 100; i++ {
			c := dt.NewNode(fmt.Sprintf("n%d", i))
			n.Children = append(n.Children, c)
			n = c
		}
	})
	for _, tc := range []struct {
		name string
		blob []byte
		want string
	}{
		{"empty", nil, "dtb: blob is 0 bytes, shorter than the 40-byte FDT header"},
		{"truncated header", blob[:39], "shorter than the 40-byte FDT header"},
		{"truncated", blob[:4096], "dtb: totalsize 1048576 exceeds the 4096-byte blob"},
		{"bad magic", withHeader(0, 0xfeedd00d), "dtb: bad magic 0xfeedd00d (want 0xd00dfeed)"},
		{"absurd totalsize", withHeader(4, 0xffffffff), "dtb: totalsize 4294967295 is absurd"},
		{"old version", withHeader(20, 16), "dtb: FDT version 16 unsupported"},
		{"struct outside", withHeader(36, 0x7fffffff), "dtb: structure block"},
		{"strings outside", withHeader(32, 0xfffffff0), "dtb: strings block"},
		{"rsvmap misaligned", withHeader(16, 0x31), "dtb: bad off_mem_rsvmap"},
		{"no memory", removeNodes(func(n *dt.Node) bool { return n.Name == "memory@40000000" }), "dtb: no memory node"},
		{"no GIC", removeNodes(func(n *dt.Node) bool { return n.Name == "intc@8000000" }), `dtb: no "arm,gic-v3" interrupt controller`},
		{"GICv2", mutate(t, blob, func(f *dt.FDT) {
			n, _ := f.RootNode.LookupChildByName("intc@8000000")
			n.UpdateProperty("compatible", []byte("arm,gic-400\x00"))
		}), `dtb: interrupt controller /intc@8000000 is a GICv2 (arm,gic-400), Ferry needs a GICv3 ("arm,gic-v3")`},
		{"not a GIC", mutate(t, blob, func(f *dt.FDT) {
			n, _ := f.RootNode.LookupChildByName("intc@8000000")
			n.UpdateProperty("compatible", []byte("apple,aic\x00"))
		}), `dtb: interrupt controller /intc@8000000 (apple,aic) is not a GICv3 ("arm,gic-v3"), which Ferry needs`},
		{"no chosen", removeNodes(func(n *dt.Node) bool { return n.Name == "chosen" }), "dtb: no /chosen node"},
		{"no stdout-path", chosenProp("stdout-path", ""), "dtb: /chosen has no stdout-path"},
		{"stdout-path names no node", chosenProp("stdout-path", "/pl011@9001000"), `dtb: /chosen/stdout-path "/pl011@9001000" names no node`},
		{"stdout-path names no alias", chosenProp("stdout-path", "serial0:115200n8"), `dtb: /chosen/stdout-path "serial0:115200n8" names no alias`},
		{"too deep", deep, "dtb: nodes nested deeper than 64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse(tc.blob)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if b != nil {
				t.Fatal("Parse returned a Board with an error")
			}
			if strings.HasPrefix(tc.want, "dtb: no") || strings.Contains(tc.want, "stdout-path") || strings.Contains(tc.want, "console") || strings.Contains(tc.want, "interrupt controller") {
				return // a semantic problem: Apply need not care
			}
			if out, err := Apply(tc.blob, Patch{}); err == nil || out != nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Apply: err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestParseStdoutPathForms(t *testing.T) {
	blob := readDTB(t, "virt-gicv3-1g.dtb")
	for _, sp := range []string{"/pl011@9000000:115200n8", "serial0", "serial0:115200n8", "/pl011"} {
		t.Run(sp, func(t *testing.T) {
			in := mutate(t, blob, func(f *dt.FDT) {
				c, _ := f.RootNode.LookupChildByName("chosen")
				c.UpdateProperty("stdout-path", append([]byte(sp), 0))
				f.RootNode.Children = append(f.RootNode.Children, dt.NewNode("aliases",
					dt.WithProperty(dt.PropertyString("serial0", "/pl011@9000000"))))
			})
			b, err := Parse(in)
			if err != nil {
				t.Fatal(err)
			}
			if b.UART != (phys.Range{0x9000000, 0x1000}) {
				t.Errorf("UART %v", b.UART)
			}
		})
	}
}

// synthetic builds a small tree with 1-cell root addresses, a simple-bus
// with a non-identity ranges, a bus without ranges, a disabled node, a
// nested memory node and reserved-memory.
func synthetic(t *testing.T) []byte {
	u32 := func(name string, v ...uint32) dt.Property { return dt.PropertyU32Array(name, v) }
	str := dt.PropertyString
	root := dt.NewNode("",
		dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 1), u32("interrupt-parent", 1)),
		dt.WithChildren(
			dt.NewNode("memory@80000000", dt.WithProperty(str("device_type", "memory"), u32("reg", 0x90000000, 0x1000000, 0x80000000, 0x1000000))),
			dt.NewNode("memory@c0000000", dt.WithProperty(str("device_type", "memory"), u32("reg", 0xc0000000, 0x100000))),
			dt.NewNode("reserved-memory", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 1), dt.Property{Name: "ranges"}),
				dt.WithChildren(dt.NewNode("fw@80000000", dt.WithProperty(u32("reg", 0x80000000, 0x10000))))),
			dt.NewNode("chosen", dt.WithProperty(str("stdout-path", "/soc/serial@1000:115200"), str("bootargs", "quiet"))),
			dt.NewNode("psci", dt.WithProperty(str("method", "hvc"))),
			dt.NewNode("soc", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 1),
				dt.PropertyString("compatible", "simple-bus"), u32("ranges", 0x0, 0x20000000, 0x100000)),
				dt.WithChildren(
					dt.NewNode("serial@1000", dt.WithProperty(str("compatible", "arm,pl011"), u32("reg", 0x1000, 0x1000), u32("interrupts", 0, 5, 4))),
					dt.NewNode("intc@40000", dt.WithProperty(str("compatible", "arm,gic-v3"), u32("phandle", 1),
						u32("#interrupt-cells", 3), u32("reg", 0x40000, 0x10000, 0x60000, 0x20000))),
					dt.NewNode("virtio@3000", dt.WithProperty(str("compatible", "virtio,mmio"), u32("reg", 0x3000, 0x200), u32("interrupts", 0, 9, 1))),
					dt.NewNode("virtio@2000", dt.WithProperty(str("compatible", "virtio,mmio"), u32("reg", 0x2000, 0x200),
						str("status", "disabled"), u32("interrupts", 0, 8, 1))),
					dt.NewNode("outside@200000", dt.WithProperty(u32("reg", 0x200000, 0x1000))), // no ranges window: not mapped
					dt.NewNode("i2c@5000", dt.WithProperty(u32("reg", 0x5000, 0x100), u32("#address-cells", 1), u32("#size-cells", 0)),
						dt.WithChildren(dt.NewNode("eeprom@50", dt.WithProperty(u32("reg", 0x50))))),
					dt.NewNode("bridge", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 1)), // no ranges
						dt.WithChildren(dt.NewNode("dev@7000", dt.WithProperty(u32("reg", 0x7000, 0x100))))),
				)),
			dt.NewNode("cpus", dt.WithProperty(u32("#address-cells", 1), u32("#size-cells", 0)),
				dt.WithChildren(dt.NewNode("cpu@0", dt.WithProperty(u32("reg", 0))))),
		))
	f := &dt.FDT{Header: dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16}, RootNode: root}
	var buf bytes.Buffer
	if _, err := f.Write(&buf); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestParseSynthetic(t *testing.T) {
	b, err := Parse(synthetic(t))
	if err != nil {
		t.Fatal(err)
	}
	want := &Board{
		Memory:         []phys.Range{{0x80000000, 0x1000000}, {0x90000000, 0x1000000}, {0xc0000000, 0x100000}},
		UART:           phys.Range{0x20001000, 0x1000},
		UARTPath:       "/soc/serial@1000",
		UARTCompatible: []string{"arm,pl011"},
		GICD:           phys.Range{0x20040000, 0x10000},
		GICR:           phys.Range{0x20060000, 0x20000},
		PSCIMethod:     "hvc",
		Virtio: []VirtioMMIO{
			{"/soc/virtio@2000", phys.Range{0x20002000, 0x200}, 8},
			{"/soc/virtio@3000", phys.Range{0x20003000, 0x200}, 9},
		},
		Bootargs:     "quiet",
		AddressCells: 1,
		SizeCells:    1,
	}
	devs := b.Devices
	b.Devices = nil
	if !reflect.DeepEqual(b, want) {
		t.Errorf("Parse:\n got %+v\nwant %+v", b, want)
	}
	b.Devices = devs
	var paths []string
	for _, d := range devs {
		paths = append(paths, d.Path)
	}
	if want := []string{"/soc/serial@1000", "/soc/intc@40000", "/soc/virtio@3000", "/soc/virtio@2000", "/soc/i2c@5000"}; !reflect.DeepEqual(paths, want) {
		t.Errorf("Devices %v, want %v", paths, want)
	}
	if !devs[0].Is("arm,pl011") || devs[1].Is("arm,pl011") {
		t.Errorf("Is: %+v", devs[:2])
	}
	wantMMIO := []phys.Range{
		{0x20001000, 0x1200}, // serial + disabled virtio
		{0x20003000, 0x200},  // virtio
		{0x20005000, 0x100},  // i2c controller (not its children)
		{0x20040000, 0x10000},
		{0x20060000, 0x20000},
	}
	if got := b.MMIO(); !reflect.DeepEqual(got, wantMMIO) {
		t.Errorf("MMIO = %v, want %v", got, wantMMIO)
	}

	out, err := Apply(synthetic(t), Patch{Memory: []phys.Range{{0x80000000, 0x800000}, {0x90000000, 0x100000}}, RNGSeed: []byte{1}})
	if err != nil {
		t.Fatal(err)
	}
	props := nodeProps(t, out)
	if _, ok := props["/memory@c0000000"]; ok {
		t.Error("second memory node survived")
	}
	reg := props["/memory@80000000"]["reg"]
	if want := []byte{0x80, 0, 0, 0, 0, 0x80, 0, 0, 0x90, 0, 0, 0, 0, 0x10, 0, 0}; !bytes.Equal(reg, want) {
		t.Errorf("1-cell memory reg = %x, want %x", reg, want)
	}
	if _, err := Apply(synthetic(t), Patch{Memory: []phys.Range{{0x1_0000_0000, 0x1000}}}); err == nil ||
		!strings.Contains(err.Error(), "does not fit root #address-cells 1") {
		t.Errorf("64-bit memory in 1-cell root: err = %v", err)
	}
}

func TestParseCPUs(t *testing.T) {
	for _, tc := range []struct {
		file   string
		mpidrs []uint64
		method string
		cpuMap string
	}{
		{"testdata/virt-gicv3-1g.dtb", []uint64{0}, "", "/cpus/cpu-map"},
		{"testdata/virt-gicv3-1g-smp4.dtb", []uint64{0, 1, 2, 3}, "psci", "/cpus/cpu-map"},
		{"../imx8mp/testdata/imx8mp-evk.dtb", []uint64{0, 1, 2, 3}, "psci", ""},
	} {
		blob, err := os.ReadFile(tc.file)
		if err != nil {
			t.Fatal(err)
		}
		b, err := Parse(blob)
		if err != nil {
			t.Fatalf("%s: %v", tc.file, err)
		}
		if b.CPUMap != tc.cpuMap {
			t.Errorf("%s: cpu-map %q", tc.file, b.CPUMap)
		}
		if len(b.CPUs) != len(tc.mpidrs) {
			t.Fatalf("%s: %d CPUs %+v, want %d", tc.file, len(b.CPUs), b.CPUs, len(tc.mpidrs))
		}
		for i, c := range b.CPUs {
			if c.MPIDR != tc.mpidrs[i] || c.EnableMethod != tc.method || !strings.HasPrefix(c.Path, "/cpus/cpu@") {
				t.Errorf("%s: CPU %d = %+v, want MPIDR %#x, enable-method %q", tc.file, i, c, tc.mpidrs[i], tc.method)
			}
			if got, ok := b.CPUOf(c.MPIDR | 1<<31); !ok || got != c {
				t.Errorf("%s: CPUOf(%#x) = %+v, %v", tc.file, c.MPIDR|1<<31, got, ok)
			}
		}
	}
}
