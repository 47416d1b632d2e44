// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package cpu is Ferry's EL2 CPU support: system-register accessors, the
// world switch into the guest and back, exception syndrome decoding, the
// exception entry of an exception Ferry gives the guest (inject.go), cache
// and TLB maintenance, and the generic timer as seen from EL2. (The boot
// entry point is the board's: boot/virt.)
//
// It knows the ARMv8-A processor and nothing else: no board addresses, no
// guest policy. Accessors (ReadHCR_EL2, WriteVTTBR_EL2, ...) are generated
// from internal/sysregtab by `go generate`; only they, the world switch and
// its vectors, and a few maintenance and SVE routines are assembly.
package cpu

//go:generate go run ./internal/gensysreg
