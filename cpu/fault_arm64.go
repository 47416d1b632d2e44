// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package cpu

import "fmt"

// Halt is called after an exception Ferry took at EL2 has been reported; the
// board sets it to power the machine off. It must not return.
var Halt func()

// hypFault is called by the vectors for an exception taken at EL2: a bug in
// Ferry. It prints the decoded syndrome and stops the machine.
func hypFault(kind, esr, elr, far uint64) {
	print(fmt.Sprintf("ferry: FATAL exception at EL2 (vector %d): ESR_EL2 %#x EC %#x (%s), ELR_EL2 %#x, FAR_EL2 %#x\n",
		kind, esr, ESR(esr).EC(), ESR(esr).ECName(), elr, far))
	if Halt != nil {
		Halt()
	}
}
