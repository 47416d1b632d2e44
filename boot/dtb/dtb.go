// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package dtb reads the firmware's flattened device tree (FDT/DTB) into a
// Board description and produces the patched DTB Ferry hands to the guest.
//
// Serialisation is done by github.com/u-root/u-root/pkg/dt. Blobs are
// prechecked (header, block bounds, token framing, nesting depth) before dt
// sees them, and any panic inside dt is recovered and returned as an error,
// so bad input yields an error, never a crash.
//
// A flattened tree cannot contain cycles (it is a token stream); the only
// references followed here are single hops (an alias, an interrupt-parent
// phandle, the ranges of ancestors), so there is nothing to loop on.
package dtb

import (
	"encoding/binary"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/dt"
)

// VirtioMMIO is one virtio,mmio transport node.
type VirtioMMIO struct {
	Path string // full node path, e.g. "/virtio_mmio@a003e00"
	Reg  phys.Range
	SPI  uint32 // interrupt number from the first 3-cell GIC specifier <0 spi flags> (type 0 = SPI); INTID = SPI+32
}

// Device is a device node: its full path, its compatible strings and its
// MMIO ranges (CPU addresses; empty ones dropped).
type Device struct {
	Path       string
	Compatible []string
	Regs       []phys.Range
}

// Is reports whether d is compatible with c.
func (d Device) Is(c string) bool { return slices.Contains(d.Compatible, c) }

// MMIO returns every device range of the board, sorted and merged.
func (b *Board) MMIO() []phys.Range {
	var rs []phys.Range
	for _, d := range b.Devices {
		rs = append(rs, d.Regs...)
	}
	return phys.Merge(rs)
}

// Board is what Ferry needs to know about the machine, read from the
// firmware's DTB.
type Board struct {
	// Memory holds all reg ranges of all device_type="memory" nodes, sorted
	// by base (not merged).
	Memory []phys.Range
	// UART is the console: the first reg of the node /chosen/stdout-path
	// names (any ":options" stripped, aliases resolved). Whether Ferry
	// supports that kind of UART is the machine description's business
	// (package hyp): UARTCompatible says which it is. Its interrupt is
	// the guest's, and may reach the GIC through another controller (the
	// i.MX8MQ's GPC): Ferry polls it and does not read it.
	UART           phys.Range
	UARTPath       string
	UARTCompatible []string
	GICD           phys.Range // arm,gic-v3 reg[0]
	GICR           phys.Range // arm,gic-v3 reg[1] (first redistributor region)
	// RTC is the first PL031 real-time clock ("arm,pl031"), zero if none:
	// where Ferry reads the date it checks certificates against.
	RTC phys.Range
	// NoMap are the /reserved-memory regions marked no-map (firmware's,
	// e.g. a secure OS's or a coprocessor's): memory the OS must not even
	// map, sorted and merged.
	NoMap []phys.Range
	// PSCIMethod is the /psci method ("smc" or "hvc"), "" if absent.
	PSCIMethod string
	Virtio     []VirtioMMIO // in address order
	// Devices is every node with MMIO a passed-through guest may touch, in
	// tree order: every node other than memory nodes, /cpus, /chosen,
	// /psci, /timer, /reserved-memory and their descendants, with its reg
	// translated to CPU addresses through the ranges of parent buses; a PCI
	// host bridge carries its ECAM (reg) and every ranges window, and its
	// children (addressed in PCI space) are not listed. Disabled nodes are
	// included. How Ferry treats each is the machine description's
	// business (package hyp).
	Devices []Device
	// Ethernet are the board's Ethernet MAC nodes, in tree order
	// (disabled ones too), with what a driver needs of them.
	Ethernet []Ethernet
	Bootargs string // /chosen/bootargs, "" if absent
	RNGSeed  []byte // /chosen/rng-seed, nil if absent
	// InitrdStart and InitrdEnd are /chosen linux,initrd-start and
	// linux,initrd-end: where the loader put an initramfs it was given
	// (QEMU's -initrd, U-Boot's booti <kernel> <initrd> <fdt>), both zero
	// if none.
	InitrdStart, InitrdEnd uint64
	// AddressCells and SizeCells are the root #address-cells / #size-cells.
	AddressCells, SizeCells uint32
	// CPUs are the cpu nodes of /cpus, in tree order (cpus.go); CPUMap
	// is the path of /cpus/cpu-map, the topology that names them ("" if
	// none).
	CPUs   []CPU
	CPUMap string
}

// Parse reads the firmware's DTB.
func Parse(blob []byte) (b *Board, err error) {
	f, err := load(blob)
	if err != nil {
		return nil, err
	}
	// load recovers panics in u-root's dt; this covers the walk of the tree
	// it built (dt.Node methods).
	defer func() {
		if r := recover(); r != nil {
			b, err = nil, fmt.Errorf("dtb: malformed tree (panic: %v)", r)
		}
	}()
	t, err := newTree(f.RootNode)
	if err != nil {
		return nil, err
	}
	b = &Board{}
	if b.AddressCells, b.SizeCells, err = rootCells(t); err != nil {
		return nil, err
	}
	// What a board lacks is reported in this order: the interrupt
	// controller, the console, then RAM (which firmware often fills in
	// only at boot).
	gic, err := b.parseGIC(t)
	if err != nil {
		return nil, err
	}
	if err := b.parseChosen(t); err != nil {
		return nil, err
	}
	if err := b.parseMemory(t); err != nil {
		return nil, err
	}
	if err := b.parseNoMap(t); err != nil {
		return nil, err
	}
	if err := b.parseCPUs(t); err != nil {
		return nil, err
	}
	if psci := t.lookup("/psci", false); psci != nil {
		b.PSCIMethod, _ = propString(psci, "method")
	}
	if err := b.parseVirtio(t, gic); err != nil {
		return nil, err
	}
	if err := b.parseDevices(t); err != nil {
		return nil, err
	}
	b.parseEthernet(t, gic)
	if n, ok := t.root.Find(func(n *dt.Node) bool { return compatible(n, "arm,pl031") }); ok {
		if rs, err := t.mmio(n); err == nil && len(rs) > 0 {
			b.RTC = rs[0]
		}
	}
	return b, nil
}

// parseNoMap reads the no-map children of /reserved-memory
// (Documentation/devicetree/bindings/reserved-memory/reserved-memory.yaml:
// static regions, reg in the node's own cells; dynamic ones, with only a
// size, have no address to keep out yet and are not listed).
func (b *Board) parseNoMap(t *tree) error {
	rm := exactChild(t.root, "reserved-memory")
	if rm == nil {
		return nil
	}
	var rs []phys.Range
	for _, n := range rm.Children {
		if _, ok := n.LookProperty("no-map"); !ok {
			continue
		}
		regs, err := t.mmio(n)
		if err != nil {
			return fmt.Errorf("dtb: %s: %w", t.path(n), err)
		}
		rs = append(rs, regs...)
	}
	b.NoMap = phys.Merge(rs)
	return nil
}

func rootCells(t *tree) (ac, sc uint32, err error) {
	ac, sc, err = t.cells(t.root)
	if err != nil {
		return 0, 0, err
	}
	if ac < 1 || ac > 2 || sc < 1 || sc > 2 {
		return 0, 0, fmt.Errorf("dtb: root #address-cells %d / #size-cells %d unsupported (want 1 or 2 each)", ac, sc)
	}
	return ac, sc, nil
}

// available reports a node's status "okay" (or absent, or the older
// "ok"). A memory node that is not -- the secure RAM a firmware with a
// secure world describes (status "disabled", secure-status "okay", as QEMU's
// virt with secure=on does) -- is not the OS's, as Linux reads it
// (of_fdt_device_is_available).
func available(n *dt.Node) bool {
	s, ok := propString(n, "status")
	return !ok || s == "okay" || s == "ok"
}

func (b *Board) parseMemory(t *tree) error {
	var mems []*dt.Node
	t.root.Walk(func(n *dt.Node) error {
		if n != t.root && isMemory(n) && available(n) {
			mems = append(mems, n)
		}
		return nil
	})
	if len(mems) == 0 {
		return fmt.Errorf("dtb: no memory node")
	}
	for _, n := range mems {
		rs, err := t.mmio(n)
		if err != nil {
			return err
		}
		for _, r := range rs {
			if r.Size != 0 {
				b.Memory = append(b.Memory, r)
			}
		}
	}
	if len(b.Memory) == 0 {
		return fmt.Errorf("dtb: memory node %s has no usable reg", t.path(mems[0]))
	}
	slices.SortFunc(b.Memory, phys.Compare)
	return nil
}

func (b *Board) parseGIC(t *tree) (*dt.Node, error) {
	gic, ok := t.root.Find(func(n *dt.Node) bool { return compatible(n, "arm,gic-v3") })
	if !ok {
		return nil, t.notGICv3()
	}
	rs, err := t.mmio(gic)
	if err != nil {
		return nil, err
	}
	if len(rs) < 2 {
		return nil, fmt.Errorf("dtb: %s: %d usable reg entries, need GICD and GICR", t.path(gic), len(rs))
	}
	b.GICD, b.GICR = rs[0], rs[1]
	p, ok := gic.LookProperty("#interrupt-cells")
	// 3 cells, or 4 where the fourth names a PPI partition (the binding
	// arm,gic-v3.yaml; the RK3399's GIC): an SPI's first three are the same.
	if !ok || len(p.Value) != 4 || (binary.BigEndian.Uint32(p.Value) != 3 && binary.BigEndian.Uint32(p.Value) != 4) {
		return nil, fmt.Errorf("dtb: %s: #interrupt-cells is not 3 or 4", t.path(gic))
	}
	return gic, nil
}

// gicV2 are the compatible strings of GICv1/v2 distributors (Linux's
// drivers/irqchip/irq-gic.c; the devicetree binding arm,gic.yaml).
var gicV2 = []string{
	"arm,gic-400", "arm,cortex-a15-gic", "arm,cortex-a9-gic", "arm,cortex-a7-gic",
	"arm,arm11mp-gic", "arm,eb11mp-gic", "arm,pl390", "arm,tc11mp-gic",
	"qcom,msm-8660-qgic", "qcom,msm-qgic2",
}

// notGICv3 is the error for a board without a GICv3: it names the
// interrupt controller the board has instead, a GICv2 anywhere in the tree
// or else the one the root's interrupt-parent names.
func (t *tree) notGICv3() error {
	if n, ok := t.root.Find(func(n *dt.Node) bool {
		return slices.ContainsFunc(gicV2, func(c string) bool { return compatible(n, c) })
	}); ok {
		c := compatibles(n)
		i := slices.IndexFunc(c, func(s string) bool { return slices.Contains(gicV2, s) })
		return fmt.Errorf(`dtb: interrupt controller %s is a GICv2 (%s), Ferry needs a GICv3 ("arm,gic-v3")`, t.path(n), c[i])
	}
	if p, ok := t.root.LookProperty("interrupt-parent"); ok && len(p.Value) == 4 {
		if n := t.phandles[binary.BigEndian.Uint32(p.Value)]; n != nil {
			return fmt.Errorf(`dtb: interrupt controller %s (%s) is not a GICv3 ("arm,gic-v3"), which Ferry needs`, t.path(n), strings.Join(compatibles(n), ", "))
		}
	}
	return fmt.Errorf(`dtb: no "arm,gic-v3" interrupt controller`)
}

// spi returns the SPI number of n's first interrupt, which must be a
// 3-cell GIC specifier of type 0 (SPI).
func (t *tree) spi(n, gic *dt.Node) (uint32, error) {
	var spec []byte
	if p, ok := n.LookProperty("interrupts-extended"); ok {
		if len(p.Value) < 16 {
			return 0, fmt.Errorf("dtb: %s: interrupts-extended is %d bytes, too short", t.path(n), len(p.Value))
		}
		ph := binary.BigEndian.Uint32(p.Value)
		if ip := t.phandles[ph]; ip != gic {
			return 0, fmt.Errorf("dtb: %s: first interrupt's parent (phandle %#x) is not the GIC %s", t.path(n), ph, t.path(gic))
		}
		spec = p.Value[4:16]
	} else {
		p, ok := n.LookProperty("interrupts")
		if !ok {
			return 0, fmt.Errorf("dtb: %s has no interrupts", t.path(n))
		}
		if len(p.Value) < 12 {
			return 0, fmt.Errorf("dtb: %s: interrupts is %d bytes, want a 3-cell GIC specifier", t.path(n), len(p.Value))
		}
		var ip *dt.Node
		for a := n; a != nil; a = t.parent[a] {
			if q, ok := a.LookProperty("interrupt-parent"); ok {
				if len(q.Value) != 4 {
					return 0, fmt.Errorf("dtb: %s: interrupt-parent is %d bytes, want 4", t.path(a), len(q.Value))
				}
				ph := binary.BigEndian.Uint32(q.Value)
				if ip = t.phandles[ph]; ip == nil {
					return 0, fmt.Errorf("dtb: %s: interrupt-parent phandle %#x names no node", t.path(a), ph)
				}
				break
			}
		}
		if ip == nil {
			ip = t.parent[n]
		}
		if ip != gic {
			return 0, fmt.Errorf("dtb: %s: interrupt parent %s is not the GIC %s", t.path(n), t.path(ip), t.path(gic))
		}
		spec = p.Value[:12]
	}
	if typ := binary.BigEndian.Uint32(spec); typ != 0 {
		return 0, fmt.Errorf("dtb: %s: first interrupt has type %d, not 0 (SPI)", t.path(n), typ)
	}
	return binary.BigEndian.Uint32(spec[4:]), nil
}

// parseInitrd reads /chosen's initramfs: both properties or neither, each
// 32 or 64 bits (loaders write either), end after start.
func (b *Board) parseInitrd(chosen *dt.Node) error {
	start, okS := chosen.LookProperty("linux,initrd-start")
	end, okE := chosen.LookProperty("linux,initrd-end")
	if !okS && !okE {
		return nil
	}
	if !okS || !okE {
		return fmt.Errorf("dtb: /chosen has one of linux,initrd-start and linux,initrd-end without the other")
	}
	num := func(v []byte) (uint64, bool) {
		switch len(v) {
		case 4:
			return uint64(binary.BigEndian.Uint32(v)), true
		case 8:
			return binary.BigEndian.Uint64(v), true
		}
		return 0, false
	}
	s, ok1 := num(start.Value)
	e, ok2 := num(end.Value)
	if !ok1 || !ok2 {
		return fmt.Errorf("dtb: /chosen linux,initrd-start/-end: want 4 or 8 bytes each, got %d and %d", len(start.Value), len(end.Value))
	}
	if e <= s {
		return fmt.Errorf("dtb: /chosen initramfs [%#x, %#x) is empty or reversed", s, e)
	}
	b.InitrdStart, b.InitrdEnd = s, e
	return nil
}

func (b *Board) parseChosen(t *tree) error {
	chosen := exactChild(t.root, "chosen")
	if chosen == nil {
		return fmt.Errorf("dtb: no /chosen node (need stdout-path for the console)")
	}
	b.Bootargs, _ = propString(chosen, "bootargs")
	if p, ok := chosen.LookProperty("rng-seed"); ok {
		b.RNGSeed = slices.Clone(p.Value)
		if b.RNGSeed == nil {
			b.RNGSeed = []byte{}
		}
	}
	if err := b.parseInitrd(chosen); err != nil {
		return err
	}
	sp, ok := propString(chosen, "stdout-path")
	if !ok {
		if sp, ok = propString(chosen, "linux,stdout-path"); !ok {
			return fmt.Errorf("dtb: /chosen has no stdout-path")
		}
	}
	path, _, _ := strings.Cut(sp, ":")
	if !strings.HasPrefix(path, "/") {
		alias, rest, _ := strings.Cut(path, "/")
		aliases := exactChild(t.root, "aliases")
		var target string
		if aliases != nil {
			target, ok = propString(aliases, alias)
		}
		if aliases == nil || !ok || !strings.HasPrefix(target, "/") {
			return fmt.Errorf("dtb: /chosen/stdout-path %q names no alias", sp)
		}
		path = target
		if rest != "" {
			path += "/" + rest
		}
	}
	uart := t.lookup(path, false)
	if uart == nil || uart == t.root {
		return fmt.Errorf("dtb: /chosen/stdout-path %q names no node", sp)
	}
	b.UARTPath, b.UARTCompatible = t.path(uart), compatibles(uart)
	rs, err := t.mmio(uart)
	if err != nil {
		return err
	}
	if len(rs) == 0 {
		return fmt.Errorf("dtb: console %s has no usable reg", t.path(uart))
	}
	b.UART = rs[0]
	return nil
}

func (b *Board) parseVirtio(t *tree, gic *dt.Node) error {
	var err error
	t.root.Walk(func(n *dt.Node) error {
		if err != nil || !compatible(n, "virtio,mmio") {
			return nil
		}
		var rs []phys.Range
		if rs, err = t.mmio(n); err != nil {
			return nil
		}
		if len(rs) == 0 {
			err = fmt.Errorf("dtb: %s has no usable reg", t.path(n))
			return nil
		}
		v := VirtioMMIO{Path: t.path(n), Reg: rs[0]}
		if v.SPI, err = t.spi(n, gic); err != nil {
			return nil
		}
		b.Virtio = append(b.Virtio, v)
		return nil
	})
	slices.SortStableFunc(b.Virtio, func(x, y VirtioMMIO) int { return phys.Compare(x.Reg, y.Reg) })
	return err
}

// excludedRoot lists root children that describe no device MMIO.
var excludedRoot = map[string]bool{"cpus": true, "chosen": true, "psci": true, "timer": true, "reserved-memory": true}

func (b *Board) parseDevices(t *tree) error {
	var visit func(n *dt.Node) error
	visit = func(n *dt.Node) error {
		if isMemory(n) {
			return nil
		}
		if t.parent[n] == t.root {
			if base, _, _ := strings.Cut(n.Name, "@"); excludedRoot[base] {
				return nil
			}
		}
		rs, err := t.mmio(n)
		if err != nil {
			return err
		}
		pci := false
		if s, _ := propString(n, "device_type"); s == "pci" {
			ws, err := t.pciWindows(n)
			if err != nil {
				return err
			}
			rs, pci = append(rs, ws...), true
		}
		rs = slices.DeleteFunc(rs, func(r phys.Range) bool { return r.Size == 0 })
		if len(rs) > 0 {
			b.Devices = append(b.Devices, Device{Path: t.path(n), Compatible: compatibles(n), Regs: rs})
		}
		if pci {
			return nil // children of a host bridge are addressed in PCI space
		}
		for _, c := range n.Children {
			if err := visit(c); err != nil {
				return err
			}
		}
		return nil
	}
	for _, c := range t.root.Children {
		if err := visit(c); err != nil {
			return err
		}
	}
	return nil
}

// pciWindows returns the CPU-side windows of a PCI host bridge's ranges:
// entries of <3-cell PCI address, parent-address, size>.
func (t *tree) pciWindows(n *dt.Node) ([]phys.Range, error) {
	p, ok := n.LookProperty("ranges")
	if !ok || len(p.Value) == 0 {
		return nil, nil
	}
	cac, sc, err := t.cells(n)
	if err != nil {
		return nil, err
	}
	up := t.parent[n]
	pac, _, err := t.cells(up)
	if err != nil {
		return nil, err
	}
	if cac != 3 || pac < 1 || pac > 2 || sc < 1 || sc > 2 {
		return nil, fmt.Errorf("dtb: %s: PCI ranges with #address-cells %d, parent #address-cells %d, #size-cells %d unsupported",
			t.path(n), cac, pac, sc)
	}
	stride := 4 * int(cac+pac+sc)
	if len(p.Value)%stride != 0 {
		return nil, fmt.Errorf("dtb: %s: ranges is %d bytes, not a multiple of %d", t.path(n), len(p.Value), stride)
	}
	var out []phys.Range
	for b := p.Value; len(b) > 0; b = b[stride:] {
		r := phys.Range{num(b[4*cac:], pac), num(b[4*(cac+pac):], sc)}
		if r.Base+r.Size < r.Base {
			return nil, fmt.Errorf("dtb: %s: ranges window %#x+%#x overflows", t.path(n), r.Base, r.Size)
		}
		tr, ok, err := t.toRoot(up, r)
		if err != nil {
			return nil, err
		}
		if ok && tr.Size != 0 {
			out = append(out, tr)
		}
	}
	return out, nil
}
