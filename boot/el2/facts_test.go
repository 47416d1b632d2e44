// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package el2

import (
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/phys"
)

// A DTB is refused when its RAM does not start where the board's
// carve-out is, or when its console is a UART the board's console does
// not drive; each error names what it found.
func TestCheckDTB(t *testing.T) {
	const ramBase = 0x40000000
	good := func() *dtb.Board {
		return &dtb.Board{
			Memory:         []phys.Range{{Base: ramBase, Size: 1 << 30}},
			UARTPath:       "/pl011@9000000",
			UARTCompatible: []string{"arm,pl011", "arm,primecell"},
		}
	}
	if err := checkDTB(good(), ramBase, "arm,pl011"); err != nil {
		t.Fatalf("virt's DTB refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*dtb.Board)
		want string
	}{
		{"no RAM", func(b *dtb.Board) { b.Memory = nil }, "RAM [] does not start at 0x40000000"},
		{"RAM elsewhere", func(b *dtb.Board) { b.Memory[0].Base = 0x80000000 }, "does not start at 0x40000000"},
		{"other UART", func(b *dtb.Board) { b.UARTCompatible = []string{"fsl,imx6q-uart"} }, "console /pl011@9000000 ([fsl,imx6q-uart]) is not compatible with arm,pl011"},
		{"no console", func(b *dtb.Board) { b.UARTPath, b.UARTCompatible = "", nil }, "is not compatible with arm,pl011"},
	} {
		b := good()
		tc.edit(b)
		err := checkDTB(b, ramBase, "arm,pl011")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}
