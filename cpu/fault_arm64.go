// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

import (
	"fmt"
	"runtime"
)

// Halt is called after an exception Ferry took at EL2 has been reported; the
// board sets it to power the machine off. It must not return.
var Halt func()

// hypFault is called by the vectors for an exception taken at EL2: a bug in
// Ferry. It prints the decoded syndrome, the functions at ELR_EL2 and at
// the link register (a call through a nil function value branches to 0:
// the caller is at LR), and stops the machine.
func hypFault(kind, esr, elr, far, lr uint64) {
	if faulting {
		// An exception while one is reported or the machine stopped
		// (Halt's SMC on firmware that has none, say): the report is
		// out, so stop here rather than take it again and again.
		// (print writes a uintptr in hexadecimal)
		print("ferry: FATAL exception at EL2 while stopping after one (ESR_EL2 ", uintptr(esr), ", ELR_EL2 ", uintptr(elr), "): halted\n")
		for {
			waitForInterrupt()
		}
	}
	faulting = true
	print(fmt.Sprintf("ferry: FATAL exception at EL2 (vector %d): ESR_EL2 %#x EC %#x (%s), ELR_EL2 %#x (%s), FAR_EL2 %#x, LR %#x (%s)\n",
		kind, esr, ESR(esr).EC(), ESR(esr).ECName(), elr, funcAt(elr), far, lr, funcAt(lr)))
	if Halt != nil {
		Halt()
	}
}

// faulting is set once hypFault has begun to report an exception.
var faulting bool

// funcAt names the Go function holding pc, with its file and line.
func funcAt(pc uint64) string {
	f := runtime.FuncForPC(uintptr(pc))
	if f == nil {
		return "?"
	}
	file, line := f.FileLine(uintptr(pc))
	return fmt.Sprintf("%s %s:%d", f.Name(), file, line)
}
