// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package el2

import (
	"fmt"
	"slices"

	"github.com/ferry-hv/ferry/boot/dtb"
)

// checkDTB checks the firmware's DTB against what the board package says
// of the board: RAM starts at ramBase (Ferry's carve-out is the bottom of
// RAM and its image is linked there), and the console the DTB's
// stdout-path names is a consoleCompatible UART, the only kind the board's
// console transmitter drives.
func checkDTB(b *dtb.Board, ramBase uint64, consoleCompatible string) error {
	if len(b.Memory) == 0 || b.Memory[0].Base != ramBase {
		return fmt.Errorf("firmware device tree: RAM %v does not start at %#x", b.Memory, ramBase)
	}
	if !slices.Contains(b.UARTCompatible, consoleCompatible) {
		return fmt.Errorf("firmware device tree: console %s (%v) is not compatible with %s, the UART Ferry's console drives", b.UARTPath, b.UARTCompatible, consoleCompatible)
	}
	return nil
}
