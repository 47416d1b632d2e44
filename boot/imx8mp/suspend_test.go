// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package imx8mp

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/u-root/u-root/pkg/dt"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/hyp"
)

// The i.MX8M boards' idle state is a PSCI power-down (cpu-pd-wait,
// arm,psci-suspend-param 0x0010033: StateType, bit 16, set; the Mini and
// Nano EVKs' DTBs in the same kernel have it, the Plus EVK's kept here has
// no idle states), and a guest's DTB keeps what the firmware's has, so
// Linux's cpuidle calls CPU_SUSPEND with it whenever the guest idles long
// enough -- and any guest may call it. Forwarded to TF-A with the guest's
// entry point, the core would wake at EL2 in the guest's code. Ferry
// serves it, with the EVK's own states and that one: the firmware gets
// nothing, the core waits in Standby, and the guest gets SUCCESS.
func TestEVKIdleStateStaysInFerry(t *testing.T) {
	blob, _ := evk(t)
	f, err := dt.ReadFDT(bytes.NewReader(blob))
	if err != nil {
		t.Fatal(err)
	}
	cpus, ok := f.RootNode.LookupChildByName("cpus")
	if !ok {
		t.Fatal("no /cpus")
	}
	params := []uint32{0x0010033}
	if states, ok := cpus.LookupChildByName("idle-states"); ok {
		for _, s := range states.Children {
			if p, ok := s.LookProperty("arm,psci-suspend-param"); ok && len(p.Value) == 4 {
				params = append(params, binary.BigEndian.Uint32(p.Value))
			}
		}
	}
	t.Logf("power states: %#x (the first the i.MX8M's cpu-pd-wait, the rest the EVK DTB's)", params)

	const entry, contextID = 0x4820_0000, 0x1234
	for _, c := range [][2]uint32{{hyp.PSCICPUSuspend64, params[0]}, {hyp.PSCICPUSuspend32, params[0]}, {hyp.PSCICPUSuspend64, params[len(params)-1]}} {
		fid, state := c[0], c[1]
		var calls [][8]uint64
		standby := 0
		v := &hyp.VCPU{
			MPIDR: 0x80000000,
			Firmware: func(a [8]uint64) [4]uint64 {
				calls = append(calls, a)
				return [4]uint64{hyp.PSCISuccess}
			},
			FirmwareInfo: hyp.FirmwareInfo{PSCI: 0x10001},
			Standby:      func() { standby++ },
		}
		v.Ctx.PC = 0xffff_8000_1000_0000
		v.Ctx.ESR = cpu.ECSMC64<<26 | 1<<25
		v.Ctx.X[0], v.Ctx.X[1], v.Ctx.X[2], v.Ctx.X[3] = uint64(fid), uint64(state), entry, contextID
		if err := v.Dispatch(cpu.ExitSync); err != nil {
			t.Fatal(err)
		}
		if len(calls) != 0 || standby != 1 || v.Ctx.X[0] != hyp.PSCISuccess || v.Ctx.PC != 0xffff_8000_1000_0004 {
			t.Errorf("CPU_SUSPEND %#x(%#x): firmware got %#x, standby %d, x0 %#x, PC %#x; want no firmware call, one standby, SUCCESS after the SMC",
				fid, state, calls, standby, v.Ctx.X[0], v.Ctx.PC)
		}
	}
}
