// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package el2 is the board-independent part of bringing Ferry up at EL2,
// shared by the board packages (boot/virt, boot/imx8mp): the entry
// (el2entry: EL2, the link address, the DTB clear of the heap, bss, the
// boot stack), the Go runtime's hooks (memory, console, randomness,
// clock), the EL2 identity map, reading the firmware's DTB from where the
// board's firmware left it, the polled console transmitter, and power-off
// (PSCI SYSTEM_OFF by SMC).
//
// What differs between boards -- RAM base and carve-out, the console's
// registers and default address, where the DTB is, the EL2 timer's
// interrupt, the RTC -- is the board package's: it gives them as one
// Facts value, which its cpuinit hands to el2entry. This package has no
// board facts.
package el2
