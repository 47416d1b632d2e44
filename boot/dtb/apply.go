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

// Patch says how the guest's DTB differs from the firmware's.
type Patch struct {
	// Memory replaces the reg of the memory node(s): the result has exactly
	// one memory node, /memory@<hex base of Memory[0]>, with device_type
	// "memory" and these ranges (in root #address-cells/#size-cells). Empty
	// leaves the memory nodes as they are.
	Memory []phys.Range
	// RemoveNodes lists full paths of nodes to delete with their subtrees;
	// a path that does not exist is an error naming it. Paths are resolved
	// in the firmware's tree, before anything else is changed.
	RemoveNodes []string
	// RemoveProps removes properties from nodes (full paths, resolved in
	// the firmware's tree; a path that does not exist is an error, a
	// property the node does not have is not).
	RemoveProps []NodeProp
	// When InitrdEnd > InitrdStart, /chosen linux,initrd-start and
	// linux,initrd-end are set (as 64-bit values); when InitrdEnd == 0 any
	// existing ones are removed. Anything else is an error.
	InitrdStart uint64
	InitrdEnd   uint64
	// Bootargs is what /chosen/bootargs is set to (removed if empty).
	Bootargs string
	// RNGSeed, if non-empty, replaces /chosen/rng-seed, and kaslr-seed, if
	// present, is replaced by its first 8 bytes (removed if RNGSeed is
	// shorter than 8 bytes). If RNGSeed is empty (nil), the firmware's
	// rng-seed and kaslr-seed are removed: Ferry consumed them, and they
	// are never handed to the guest.
	RNGSeed []byte
	// Reserve is added to the /memreserve/ block.
	Reserve []phys.Range
}

// NodeProp names a property of the node at Path.
type NodeProp struct{ Path, Name string }

// Apply returns a new DTB: blob with p applied. blob is not modified.
// /chosen is created if missing. On error no blob is returned.
func Apply(blob []byte, p Patch) (out []byte, err error) {
	f, err := load(blob)
	if err != nil {
		return nil, err
	}
	// load recovers panics in dt.ReadFDT; this covers the edits and
	// dt's FDT.Write.
	defer func() {
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("dtb: malformed tree (panic: %v)", r)
		}
	}()
	t, err := newTree(f.RootNode)
	if err != nil {
		return nil, err
	}
	if err := p.validate(); err != nil {
		return nil, err
	}

	// Resolve removals against the unmodified tree.
	victims := make([]*dt.Node, 0, len(p.RemoveNodes))
	for _, path := range p.RemoveNodes {
		n := t.lookup(path, true)
		if n == nil {
			return nil, fmt.Errorf("dtb: remove %s: no such node", path)
		}
		if n == t.root {
			return nil, fmt.Errorf("dtb: remove %s: cannot remove the root node", path)
		}
		victims = append(victims, n)
	}
	holders := make([]*dt.Node, 0, len(p.RemoveProps))
	for _, np := range p.RemoveProps {
		n := t.lookup(np.Path, true)
		if n == nil {
			return nil, fmt.Errorf("dtb: remove %s from %s: no such node", np.Name, np.Path)
		}
		holders = append(holders, n)
	}
	for i, n := range holders {
		name := p.RemoveProps[i].Name
		n.Properties = slices.DeleteFunc(n.Properties, func(q dt.Property) bool { return q.Name == name })
	}

	if len(p.Memory) > 0 {
		if err := replaceMemory(t, p.Memory); err != nil {
			return nil, err
		}
	}
	for _, v := range victims {
		if par := t.parent[v]; par != nil {
			par.Children = slices.DeleteFunc(par.Children, func(c *dt.Node) bool { return c == v })
		}
	}

	chosen := exactChild(t.root, "chosen")
	if chosen == nil {
		chosen = dt.NewNode("chosen")
		t.root.Children = append(t.root.Children, chosen)
	}
	patchChosen(chosen, p)

	for _, r := range p.Reserve {
		f.ReserveEntries = append(f.ReserveEntries, dt.ReserveEntry{Address: r.Base, Size: r.Size})
	}

	f.Header.Magic = dt.Magic
	f.Header.Version = fdtVersion
	f.Header.LastCompVersion = lastCompVer
	var buf bytes.Buffer
	if _, err := f.Write(&buf); err != nil {
		return nil, fmt.Errorf("dtb: writing FDT: %w", err)
	}
	out = buf.Bytes()
	// Self-check: what we hand the guest must be a valid FDT.
	if _, err := load(out); err != nil {
		return nil, fmt.Errorf("dtb: internal error: patched blob does not re-parse: %w", err)
	}
	return out, nil
}

func (p *Patch) validate() error {
	for _, r := range p.Memory {
		if r.Size == 0 || r.Base+r.Size < r.Base {
			return fmt.Errorf("dtb: bad memory range %v", r)
		}
	}
	for _, r := range p.Reserve {
		// A zero size would end the /memreserve/ list early for Linux.
		if r.Size == 0 || r.Base+r.Size < r.Base {
			return fmt.Errorf("dtb: bad memreserve range %v", r)
		}
	}
	if p.InitrdEnd != 0 && p.InitrdEnd <= p.InitrdStart {
		return fmt.Errorf("dtb: initrd end %#x is not after start %#x", p.InitrdEnd, p.InitrdStart)
	}
	if strings.ContainsRune(p.Bootargs, 0) {
		return fmt.Errorf("dtb: bootargs contain a NUL byte")
	}
	return nil
}

func replaceMemory(t *tree, mem []phys.Range) error {
	ac, sc, err := rootCells(t)
	if err != nil {
		return err
	}
	val := make([]byte, 0, len(mem)*4*int(ac+sc))
	for _, r := range mem {
		if (ac == 1 && r.Base > 0xffffffff) || (ac == 1 && r.End() > 1<<32) || (sc == 1 && r.Size > 0xffffffff) {
			return fmt.Errorf("dtb: memory range %v does not fit root #address-cells %d / #size-cells %d", r, ac, sc)
		}
		val = appendCells(val, r.Base, ac)
		val = appendCells(val, r.Size, sc)
	}

	// Drop every memory node, remembering where the first root one was.
	at := -1
	var mems []*dt.Node
	t.root.Walk(func(n *dt.Node) error {
		if n != t.root && isMemory(n) {
			mems = append(mems, n)
		}
		return nil
	})
	for _, m := range mems {
		par := t.parent[m]
		i := slices.Index(par.Children, m)
		if i < 0 {
			continue // inside an already removed memory node
		}
		if par == t.root && at < 0 {
			at = i
		}
		par.Children = slices.Delete(par.Children, i, i+1)
	}

	name := fmt.Sprintf("memory@%x", mem[0].Base)
	for _, c := range t.root.Children {
		if c.Name == name {
			return fmt.Errorf("dtb: cannot add /%s: a non-memory node has that name", name)
		}
	}
	n := dt.NewNode(name, dt.WithProperty(
		dt.PropertyString("device_type", "memory"),
		dt.Property{Name: "reg", Value: val},
	))
	if at < 0 {
		at = len(t.root.Children)
	}
	t.root.Children = slices.Insert(t.root.Children, at, n)
	t.parent[n] = t.root
	return nil
}

func appendCells(b []byte, v uint64, cells uint32) []byte {
	if cells == 2 {
		return binary.BigEndian.AppendUint64(b, v)
	}
	return binary.BigEndian.AppendUint32(b, uint32(v))
}

func patchChosen(c *dt.Node, p Patch) {
	if p.InitrdEnd > p.InitrdStart {
		setProp(c, "linux,initrd-start", binary.BigEndian.AppendUint64(nil, p.InitrdStart))
		setProp(c, "linux,initrd-end", binary.BigEndian.AppendUint64(nil, p.InitrdEnd))
	} else { // InitrdEnd == 0 (validated)
		delProp(c, "linux,initrd-start")
		delProp(c, "linux,initrd-end")
	}

	if p.Bootargs != "" {
		setProp(c, "bootargs", append([]byte(p.Bootargs), 0))
	} else {
		delProp(c, "bootargs")
	}

	if len(p.RNGSeed) > 0 {
		setProp(c, "rng-seed", slices.Clone(p.RNGSeed))
		if _, ok := c.LookProperty("kaslr-seed"); ok {
			if len(p.RNGSeed) >= 8 {
				setProp(c, "kaslr-seed", slices.Clone(p.RNGSeed[:8]))
			} else {
				delProp(c, "kaslr-seed")
			}
		}
	} else {
		delProp(c, "rng-seed")
		delProp(c, "kaslr-seed")
	}
}
