// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build !linux

package qemu

import "syscall"

// setParentDeathSignal: only Linux has a parent-death signal; elsewhere a
// child is stopped by StopChildren alone (signals and Exit, not SIGKILL).
func setParentDeathSignal(*syscall.SysProcAttr) {}
