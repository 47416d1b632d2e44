// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package qemu

import "syscall"

// setParentDeathSignal has the kernel SIGKILL the child when the thread
// that forked it exits (prctl PR_SET_PDEATHSIG, set in the child before
// exec; Go then checks that the parent is still there).
func setParentDeathSignal(a *syscall.SysProcAttr) { a.Pdeathsig = syscall.SIGKILL }
