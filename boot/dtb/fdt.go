// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dtb

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"slices"
	"strings"

	"github.com/u-root/u-root/pkg/dt"
)

// Limits applied before a blob is handed to u-root's dt reader. dt trusts the
// header: it allocates size_dt_strings and every property length before it
// reads them, builds node names a byte at a time, and recurses once per
// nesting level, so a hostile or corrupt blob could make it allocate gigabytes
// or spin. precheck rejects such blobs first.
const (
	headerSize  = 40      // FDT v17 header
	maxBlobSize = 2 << 20 // Linux arm64 MAX_FDT_SIZE
	maxDepth    = 64      // Linux FDT_MAX_DEPTH
	maxNameLen  = 256     // node name incl. unit address; the spec asks for <= 31+unit
	fdtVersion  = 17
	lastCompVer = 16

	tokBeginNode = 1
	tokEndNode   = 2
	tokProp      = 3
	tokNop       = 4
	tokEnd       = 9
)

// precheck validates the FDT header and the shape of the structure block of
// blob and returns the header's totalsize. It does not build anything (the
// tree is built by u-root's dt); it only walks the tokens to prove that dt's
// allocations and recursion are bounded by the blob.
func precheck(blob []byte) (uint32, error) {
	be := binary.BigEndian
	if len(blob) < headerSize {
		return 0, fmt.Errorf("dtb: blob is %d bytes, shorter than the %d-byte FDT header", len(blob), headerSize)
	}
	if m := be.Uint32(blob[0:]); m != dt.Magic {
		return 0, fmt.Errorf("dtb: bad magic %#08x (want %#08x)", m, dt.Magic)
	}
	var (
		total       = be.Uint32(blob[4:])
		offStruct   = be.Uint32(blob[8:])
		offStrings  = be.Uint32(blob[12:])
		offRsv      = be.Uint32(blob[16:])
		version     = be.Uint32(blob[20:])
		lastComp    = be.Uint32(blob[24:])
		sizeStrings = be.Uint32(blob[32:])
		sizeStruct  = be.Uint32(blob[36:])
	)
	switch {
	case total > maxBlobSize:
		return 0, fmt.Errorf("dtb: totalsize %d is absurd (limit %d)", total, maxBlobSize)
	case uint64(total) > uint64(len(blob)):
		return 0, fmt.Errorf("dtb: totalsize %d exceeds the %d-byte blob", total, len(blob))
	case total < headerSize:
		return 0, fmt.Errorf("dtb: totalsize %d is smaller than the FDT header", total)
	case version < fdtVersion:
		return 0, fmt.Errorf("dtb: FDT version %d unsupported (need %d)", version, fdtVersion)
	case lastComp > fdtVersion:
		return 0, fmt.Errorf("dtb: FDT last_comp_version %d is newer than %d", lastComp, fdtVersion)
	case offRsv < headerSize || offRsv%8 != 0 || uint64(offRsv)+16 > uint64(total):
		return 0, fmt.Errorf("dtb: bad off_mem_rsvmap %#x (totalsize %#x)", offRsv, total)
	case offStruct%4 != 0 || offStruct < headerSize || uint64(offStruct)+uint64(sizeStruct) > uint64(total):
		return 0, fmt.Errorf("dtb: structure block %#x+%#x outside totalsize %#x", offStruct, sizeStruct, total)
	case offStrings < headerSize || uint64(offStrings)+uint64(sizeStrings) > uint64(total):
		return 0, fmt.Errorf("dtb: strings block %#x+%#x outside totalsize %#x", offStrings, sizeStrings, total)
	}
	if err := scanStruct(blob[offStruct:offStruct+sizeStruct], sizeStrings); err != nil {
		return 0, err
	}
	return total, nil
}

// scanStruct checks token framing, nesting depth, name lengths and property
// lengths of a structure block.
func scanStruct(s []byte, sizeStrings uint32) error {
	be := binary.BigEndian
	depth, roots, off := 0, 0, 0
	for {
		if off > len(s)-4 {
			return fmt.Errorf("dtb: structure block ends at %#x without FDT_END", off)
		}
		tok := be.Uint32(s[off:])
		at := off
		off += 4
		switch tok {
		case tokBeginNode:
			if depth == 0 {
				if roots++; roots > 1 {
					return fmt.Errorf("dtb: second root node at struct offset %#x", at)
				}
			}
			if depth++; depth > maxDepth {
				return fmt.Errorf("dtb: nodes nested deeper than %d at struct offset %#x", maxDepth, at)
			}
			n := bytes.IndexByte(s[off:], 0)
			if n < 0 {
				return fmt.Errorf("dtb: unterminated node name at struct offset %#x", at)
			}
			if n > maxNameLen {
				return fmt.Errorf("dtb: %d-byte node name at struct offset %#x", n, at)
			}
			off += (n + 1 + 3) &^ 3
		case tokEndNode:
			if depth--; depth < 0 {
				return fmt.Errorf("dtb: unbalanced FDT_END_NODE at struct offset %#x", at)
			}
		case tokProp:
			if depth == 0 {
				return fmt.Errorf("dtb: property outside any node at struct offset %#x", at)
			}
			if off > len(s)-8 {
				return fmt.Errorf("dtb: truncated property at struct offset %#x", at)
			}
			l, nameoff := be.Uint32(s[off:]), be.Uint32(s[off+4:])
			off += 8
			if uint64(l) > uint64(len(s)-off) {
				return fmt.Errorf("dtb: %d-byte property at struct offset %#x overruns the structure block", l, at)
			}
			if nameoff >= sizeStrings {
				return fmt.Errorf("dtb: property name offset %#x at struct offset %#x outside the strings block", nameoff, at)
			}
			off += (int(l) + 3) &^ 3
		case tokNop:
		case tokEnd:
			if depth != 0 || roots != 1 {
				return fmt.Errorf("dtb: FDT_END at struct offset %#x inside a node or without a root", at)
			}
			return nil
		default:
			return fmt.Errorf("dtb: unknown token %#x at struct offset %#x", tok, at)
		}
	}
}

// load parses blob with u-root's dt. u-root's dt is not hardened against
// hostile input: besides precheck, a panic inside it is recovered here and
// returned as an error.
func load(blob []byte) (f *dt.FDT, err error) {
	total, err := precheck(blob)
	if err != nil {
		return nil, err
	}
	defer func() {
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("dtb: malformed blob (u-root dt panicked: %v)", r)
		}
	}()
	f, err = dt.ReadFDT(bytes.NewReader(blob[:total]))
	if err != nil {
		return nil, fmt.Errorf("dtb: %w", err)
	}
	return f, nil
}

// tree indexes a parsed device tree.
type tree struct {
	root     *dt.Node
	parent   map[*dt.Node]*dt.Node
	phandles map[uint32]*dt.Node
}

func newTree(root *dt.Node) (*tree, error) {
	t := &tree{root: root, parent: map[*dt.Node]*dt.Node{}, phandles: map[uint32]*dt.Node{}}
	var visit func(n *dt.Node) error
	visit = func(n *dt.Node) error {
		for _, name := range []string{"phandle", "linux,phandle"} {
			p, ok := n.LookProperty(name)
			if !ok {
				continue
			}
			if len(p.Value) != 4 {
				return fmt.Errorf("dtb: %s: %s is %d bytes, want 4", t.path(n), name, len(p.Value))
			}
			ph := binary.BigEndian.Uint32(p.Value)
			if o, dup := t.phandles[ph]; dup && o != n {
				return fmt.Errorf("dtb: phandle %#x used by both %s and %s", ph, t.path(o), t.path(n))
			}
			t.phandles[ph] = n
		}
		for _, c := range n.Children {
			if c == nil {
				return fmt.Errorf("dtb: %s: nil child", t.path(n))
			}
			t.parent[c] = n
			if err := visit(c); err != nil {
				return err
			}
		}
		return nil
	}
	if root == nil {
		return nil, fmt.Errorf("dtb: no root node")
	}
	return t, visit(root)
}

// path returns the full path of n.
func (t *tree) path(n *dt.Node) string {
	if n == t.root {
		return "/"
	}
	var parts []string
	for ; n != nil && n != t.root; n = t.parent[n] {
		parts = append(parts, n.Name)
	}
	var b strings.Builder
	for i := len(parts) - 1; i >= 0; i-- {
		b.WriteByte('/')
		b.WriteString(parts[i])
	}
	return b.String()
}

// lookup resolves an absolute path. Unless exact, a component without a unit
// address also matches a child with one (as libfdt does) when there is no
// exact match.
func (t *tree) lookup(path string, exact bool) *dt.Node {
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	n := t.root
	for _, comp := range strings.Split(path[1:], "/") {
		if comp == "" {
			continue
		}
		if exact {
			n = exactChild(n, comp)
		} else {
			n = child(n, comp)
		}
		if n == nil {
			return nil
		}
	}
	return n
}

func exactChild(n *dt.Node, name string) *dt.Node {
	for _, c := range n.Children {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func child(n *dt.Node, name string) *dt.Node {
	if c := exactChild(n, name); c != nil {
		return c
	}
	if !strings.Contains(name, "@") {
		for _, c := range n.Children {
			if base, _, _ := strings.Cut(c.Name, "@"); base == name {
				return c
			}
		}
	}
	return nil
}

// propString returns a string property without its terminating NUL(s).
func propString(n *dt.Node, name string) (string, bool) {
	p, ok := n.LookProperty(name)
	if !ok {
		return "", false
	}
	s, _, _ := strings.Cut(string(p.Value), "\x00")
	return s, true
}

// compatibles returns n's compatible strings.
func compatibles(n *dt.Node) []string {
	p, ok := n.LookProperty("compatible")
	if !ok {
		return nil
	}
	return slices.DeleteFunc(strings.Split(string(p.Value), "\x00"), func(s string) bool { return s == "" })
}

func compatible(n *dt.Node, want string) bool {
	p, ok := n.LookProperty("compatible")
	if !ok {
		return false
	}
	for _, s := range strings.Split(string(p.Value), "\x00") {
		if s == want {
			return true
		}
	}
	return false
}

func isMemory(n *dt.Node) bool {
	s, _ := propString(n, "device_type")
	return s == "memory"
}

// cellCount reads #address-cells or #size-cells of n (the spec defaults are
// 2 and 1).
func (t *tree) cellCount(n *dt.Node, name string, def uint32) (uint32, error) {
	p, ok := n.LookProperty(name)
	if !ok {
		return def, nil
	}
	if len(p.Value) != 4 {
		return 0, fmt.Errorf("dtb: %s: %s is %d bytes, want 4", t.path(n), name, len(p.Value))
	}
	v := binary.BigEndian.Uint32(p.Value)
	if v > 4 {
		return 0, fmt.Errorf("dtb: %s: %s = %d is absurd", t.path(n), name, v)
	}
	return v, nil
}

func (t *tree) cells(n *dt.Node) (ac, sc uint32, err error) {
	if ac, err = t.cellCount(n, "#address-cells", 2); err != nil {
		return 0, 0, err
	}
	if sc, err = t.cellCount(n, "#size-cells", 1); err != nil {
		return 0, 0, err
	}
	return ac, sc, nil
}

// num decodes a big-endian number of n cells (n <= 2) from b.
func num(b []byte, n uint32) uint64 {
	var v uint64
	for i := uint32(0); i < n; i++ {
		v = v<<32 | uint64(binary.BigEndian.Uint32(b[4*i:]))
	}
	return v
}

// regs decodes n's reg property using its parent's cell counts. ok is false
// when the addresses are not plain 1- or 2-cell CPU-style addresses with sizes
// (e.g. CPUs, I2C or PCI children).
func (t *tree) regs(n *dt.Node) (rs []phys.Range, ok bool, err error) {
	p, has := n.LookProperty("reg")
	par := t.parent[n]
	if !has || par == nil {
		return nil, false, nil
	}
	ac, sc, err := t.cells(par)
	if err != nil {
		return nil, false, err
	}
	if ac < 1 || ac > 2 || sc < 1 || sc > 2 {
		return nil, false, nil
	}
	stride := 4 * int(ac+sc)
	if len(p.Value)%stride != 0 {
		return nil, false, fmt.Errorf("dtb: %s: reg is %d bytes, not a multiple of %d (#address-cells %d, #size-cells %d)",
			t.path(n), len(p.Value), stride, ac, sc)
	}
	for b := p.Value; len(b) > 0; b = b[stride:] {
		r := phys.Range{Base: num(b, ac), Size: num(b[4*ac:], sc)}
		if r.Base+r.Size < r.Base {
			return nil, false, fmt.Errorf("dtb: %s: reg %#x+%#x overflows", t.path(n), r.Base, r.Size)
		}
		rs = append(rs, r)
	}
	return rs, true, nil
}

// toRoot translates r, an address in the address space of bus's children,
// to a root (CPU physical) address through the ranges of bus and its
// ancestors. ok is false when some bus has no ranges (not memory mapped) or
// no window covers the address.
func (t *tree) toRoot(bus *dt.Node, r phys.Range) (phys.Range, bool, error) {
	for ; bus != nil && bus != t.root; bus = t.parent[bus] {
		p, has := bus.LookProperty("ranges")
		if !has {
			return r, false, nil
		}
		if len(p.Value) == 0 {
			continue // identity
		}
		up := t.parent[bus]
		cac, sc, err := t.cells(bus)
		if err != nil {
			return r, false, err
		}
		pac, _, err := t.cells(up)
		if err != nil {
			return r, false, err
		}
		if cac < 1 || cac > 2 || pac < 1 || pac > 2 || sc < 1 || sc > 2 {
			return r, false, nil
		}
		stride := 4 * int(cac+pac+sc)
		if len(p.Value)%stride != 0 {
			return r, false, fmt.Errorf("dtb: %s: ranges is %d bytes, not a multiple of %d", t.path(bus), len(p.Value), stride)
		}
		found := false
		for b := p.Value; len(b) > 0; b = b[stride:] {
			cb, pb, sz := num(b, cac), num(b[4*cac:], pac), num(b[4*(cac+pac):], sc)
			if r.Base >= cb && r.Base-cb < sz {
				r.Base = pb + (r.Base - cb)
				if r.Base+r.Size < r.Base {
					return r, false, fmt.Errorf("dtb: %s: translated range %#x+%#x overflows", t.path(bus), r.Base, r.Size)
				}
				found = true
				break
			}
		}
		if !found {
			return r, false, nil
		}
	}
	return r, true, nil
}

// mmio returns n's reg ranges translated to CPU physical addresses.
func (t *tree) mmio(n *dt.Node) ([]phys.Range, error) {
	rs, ok, err := t.regs(n)
	if err != nil || !ok {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		tr, ok, err := t.toRoot(t.parent[n], r)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, tr)
		}
	}
	return out, nil
}

func setProp(n *dt.Node, name string, val []byte) {
	n.UpdateProperty(name, val)
}

// delProp removes a property, keeping the order of the others (dt's
// RemoveProperty swaps the last one in).
func delProp(n *dt.Node, name string) {
	ps := n.Properties[:0]
	for _, p := range n.Properties {
		if p.Name != name {
			ps = append(ps, p)
		}
	}
	n.Properties = ps
}
