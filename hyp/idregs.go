// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import "github.com/ferry-hv/ferry/cpu"

// idRead answers a trapped read of the ID register space (HCR_EL2.TID3:
// op0 3, op1 0, CRn 0, CRm 1..7) from the guest's view of the CPU
// (cpu.IDView): the hardware's features less those Ferry neither runs nor
// moves (docs/state.md, "The CPU the guest sees"). It reports false for
// any other access (a write to these read-only registers included: the
// guest gets the undefined instruction the CPU would give it).
func (v *VCPU) idRead(a cpu.SysRegAccess) bool {
	if v.IDs == nil || !a.Read || a.Op0 != 3 || a.Op1 != 0 || a.CRn != 0 {
		return false
	}
	val, ok := v.IDs.Read(a.CRm, a.Op2)
	if !ok {
		return false
	}
	if a.Reg != cpu.RegZR {
		v.Ctx.X[a.Reg] = val
	}
	v.Ctx.Advance(cpu.ESR(v.Ctx.ESR))
	return true
}
