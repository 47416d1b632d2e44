// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dtb

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// CPU is one cpu node of /cpus (Documentation/devicetree/bindings/arm/cpus.yaml).
type CPU struct {
	Path string
	// MPIDR is its reg: MPIDR_EL1's affinity fields, Aff3 in [39:32] and
	// Aff2-Aff0 in [23:0].
	MPIDR uint64
	// EnableMethod is how the OS starts it: "psci" on boards whose
	// firmware has PSCI; absent (QEMU's single CPU, a boot CPU) is "".
	EnableMethod string
}

// mpidrAffinity are MPIDR_EL1's affinity fields, which a cpu node's reg
// holds (the binding forbids the other bits).
const mpidrAffinity = 0xff_00ff_ffff

// maxCPUs bounds the cpu nodes read: more than any board Ferry knows of
// (the paper's 24 cores, Ampere's 128) -- a DTB claiming more is broken.
const maxCPUs = 256

// parseCPUs reads the cpu nodes of /cpus in tree order. A DTB without
// them lists none: Ferry then runs on its boot CPU alone.
func (b *Board) parseCPUs(t *tree) error {
	cpus := exactChild(t.root, "cpus")
	if cpus == nil {
		return nil
	}
	ac, _, err := t.cells(cpus)
	if err != nil {
		return err
	}
	if ac < 1 || ac > 2 {
		return fmt.Errorf("dtb: /cpus #address-cells %d unsupported (want 1 or 2)", ac)
	}
	for _, n := range cpus.Children {
		if n.Name == "cpu-map" {
			b.CPUMap = t.path(n)
		}
		if dt, _ := propString(n, "device_type"); dt != "cpu" {
			continue // cpu-map, idle-states, l2-cache
		}
		path := t.path(n)
		if len(b.CPUs) == maxCPUs {
			return fmt.Errorf("dtb: more than %d cpu nodes in /cpus", maxCPUs)
		}
		reg, ok := n.LookProperty("reg")
		if !ok || len(reg.Value) != int(4*ac) {
			return fmt.Errorf("dtb: %s: reg is not %d cell(s)", path, ac)
		}
		var mpidr uint64
		if ac == 1 {
			mpidr = uint64(binary.BigEndian.Uint32(reg.Value))
		} else {
			mpidr = binary.BigEndian.Uint64(reg.Value)
		}
		if mpidr&^mpidrAffinity != 0 {
			return fmt.Errorf("dtb: %s: reg %#x has bits outside MPIDR_EL1's affinity fields", path, mpidr)
		}
		for _, c := range b.CPUs {
			if c.MPIDR == mpidr {
				return fmt.Errorf("dtb: %s: reg %#x is also %s's", path, mpidr, c.Path)
			}
		}
		method, _ := propString(n, "enable-method")
		b.CPUs = append(b.CPUs, CPU{Path: path, MPIDR: mpidr, EnableMethod: strings.TrimSpace(method)})
	}
	return nil
}

// CPUOf returns the cpu node whose reg is mpidr's affinity.
func (b *Board) CPUOf(mpidr uint64) (CPU, bool) {
	for _, c := range b.CPUs {
		if c.MPIDR == mpidr&mpidrAffinity {
			return c, true
		}
	}
	return CPU{}, false
}
