// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

// defined in switch_arm64.s
func enter(c *Context) uint64
func vectorTable()

// Enter runs the guest described by c until it takes an exception to EL2,
// then returns the exit reason (ExitSync, ...) with c holding the guest's
// registers and the exception syndrome. The calling goroutine does not yield
// while the guest runs: Ferry's scheduler only runs between exits.
func Enter(c *Context) uint64 { return enter(c) }

// InstallVectors points VBAR_EL2 at Ferry's exception vector table.
func InstallVectors() { WriteVBAR_EL2(vectorBase()) }
