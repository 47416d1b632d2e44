// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mmu

import "errors"

// Errors returned (wrapped, with the offending address) by this package.
// Test for them with errors.Is.
var (
	ErrAlign     = errors.New("mmu: not 4 KiB aligned")
	ErrRange     = errors.New("mmu: address range invalid or out of range")
	ErrMapped    = errors.New("mmu: already mapped")
	ErrNotMapped = errors.New("mmu: not mapped")
	ErrExhausted = errors.New("mmu: arena exhausted")
	ErrArgument  = errors.New("mmu: invalid argument")
)
