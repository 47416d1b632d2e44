// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package guest plans how the guest OS is started: it checks the arm64
// Linux Image header and lays the boot out in guest RAM (patched DTB, kernel,
// initramfs). Which devices the guest gets and how they are mapped is the
// machine description's (package hyp).
//
// It is pure logic over bytes and numbers; the board and hypervisor packages
// apply the plan to the hardware.
package guest
