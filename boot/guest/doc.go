// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package guest plans how the guest OS is started: it checks the arm64
// Linux Image header, lays the boot out in guest RAM (patched DTB, kernel,
// initramfs) and makes the guest's DTB, and it keeps the boot stash -- a
// copy of the kernel and initramfs at the top of guest RAM, with its own
// record, from which the guest is booted again when it resets itself, on
// the board that booted it or one it was migrated to (stash.go). Which
// devices the guest gets and how they are mapped is the machine
// description's (package hyp).
//
// It is pure logic over bytes and numbers; the board and hypervisor packages
// apply the plan to the hardware.
package guest
