// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "github.com/ferry-hv/ferry/phys"

// EL2Block is the level-1 identity block descriptor IdentityEL2 writes for
// the 1 GiB region at base: Normal memory when normal is set, else Device.
// Boards use it to build or patch the EL2 map in place before the Go heap
// exists.
func EL2Block(base uint64, normal bool) uint64 {
	var ram []phys.Range
	if normal {
		ram = []phys.Range{{Base: base, Size: 1}}
	}
	return s1Block(base, levelSize(s1StartLevel), ram)
}
