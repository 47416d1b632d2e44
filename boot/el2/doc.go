// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package el2 is the board-independent part of bringing Ferry up at EL2,
// shared by the board packages (boot/virt, boot/imx8mp): the EL2 identity
// map, the runtime's randomness and clock hooks, reading the firmware's
// DTB from where the board's firmware left it, the polled console
// transmitter, and power-off (PSCI SYSTEM_OFF by SMC).
//
// What differs between boards -- the entry, RAM base and carve-out, the
// console's registers, the EL2 timer's interrupt, where the DTB is, the
// RTC -- is the board package's; this package has no board facts.
package el2
