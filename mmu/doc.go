// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package mmu builds ARMv8-A translation tables: the stage-2 tables that give
// the guest its intermediate physical address space, and the EL2 stage-1
// identity map Ferry itself runs on. Tables live in an Arena, so the same
// code runs on the host under test and on the board.
//
// All tables use the 4 KiB translation granule and the VMSAv8-64 descriptor
// formats of ARM ARM D8.3 ("Translation table descriptor formats"), in the
// chapter D8 "The AArch64 Virtual Memory System Architecture". Descriptors
// are stored little-endian in the arena's memory, exactly as the
// translation table walker reads them.
//
// The package only edits memory. Making an edit of live tables visible to
// the MMU (break-before-make, DSB, TLBI) is the caller's job.
package mmu
