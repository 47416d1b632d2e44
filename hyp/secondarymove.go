// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"fmt"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/gic"
	"github.com/ferry-hv/ferry/gic/vcpuif"
)

// How the guest's other vCPUs move (docs/smp.md). Each vCPU k > 0 is one
// component, "vcpu/k" (vcpustate.go), captured at the pause and loaded
// on its own CPU, the only one whose registers hold it: the source holds
// every vCPU out of the guest first (holdSecondaries), then pauses vCPU 0;
// the destination loads every vCPU, each on its CPU, before it starts
// any. The machine has one virtual count: vCPU 0's timer sets the
// destination's offset (vtimeOff) and every other vCPU takes it.

// vcpuComponent is vCPU k's component.
func (m *Machine) vcpuComponent(k int, hw stateHW) Component {
	s := m.cpus[k]
	return Component{
		Name: fmt.Sprintf("vcpu/%d", k), Version: vcpuStateVersion, Oldest: vcpuStateOldest, AtPause: true,
		Capture: func() ([]byte, error) {
			var b []byte
			err := m.onCPU(k, func() error {
				var err error
				b, err = m.captureVCPU(k, hw)
				return err
			})
			return b, err
		},
		Decode: func(v uint16, b []byte) (func() error, error) {
			st, err := decodeVCPUState(v, b)
			if err != nil {
				return nil, err
			}
			cs, err := cpu.DecodeState(st.CPU.Version, st.CPU.Data)
			if err != nil {
				return nil, err
			}
			tm, err := cpu.DecodeTimer(st.Timer.Version, st.Timer.Data)
			if err != nil {
				return nil, err
			}
			rd, err := gic.DecodeRedist(st.Redist.Version, st.Redist.Data)
			if err != nil {
				return nil, err
			}
			vs, err := vcpuif.Decode(st.VIF.Version, st.VIF.Data)
			if err != nil {
				return nil, err
			}
			// Its HW entries are interrupts Ferry acknowledged for it:
			// active in its redistributor (its PPIs) or the distributor
			// (SPIs), whose state the stream holds.
			g := *hw.gicState
			if g == nil {
				return nil, fmt.Errorf("no %q state before it", stateGIC)
			}
			if err := vs.CheckPhysical(func(id uint32) bool {
				if id < gic.NumPrivate {
					return rd.Active&(1<<id) != 0
				}
				return gicActive(g, id)
			}); err != nil {
				return nil, err
			}
			return func() error {
				err := m.onCPU(k, func() error {
					if err := hw.restoreVCPU(cs, &s.vcpu.Ctx); err != nil {
						return err
					}
					hw.restoreTimerAt(tm, m.vtimeOff.Load())
					if err := s.guard.RestoreRedist(rd); err != nil {
						return err
					}
					return s.vif.Restore(vs)
				})
				if err != nil {
					return err
				}
				s.vcpu.Powers.set(k, st.Power, st.Start)
				s.restored.Store(st.Power == VCPUOn)
				return nil
			}, nil
		},
	}
}

// captureVCPU is vCPU k's state, on its CPU, the vCPU held: the SGIs other
// vCPUs queued for it are listed first, so that they move with it.
func (m *Machine) captureVCPU(k int, hw stateHW) ([]byte, error) {
	s := m.cpus[k]
	m.takeSGIs(k, s.vif, s.irq)
	power, start := s.vcpu.Powers.get(k)
	rd, err := s.guard.CaptureRedist()
	if err != nil {
		return nil, err
	}
	st := vcpuState{
		Power:  power,
		Start:  start,
		CPU:    record{cpu.StateVersion, hw.captureVCPU(&s.vcpu.Ctx).Encode()},
		Timer:  record{cpu.TimerVersion, hw.captureTimer().Encode()},
		Redist: record{gic.Version, rd.Encode()},
		VIF:    record{vcpuif.Version, s.vif.Capture().Encode()},
	}
	return st.Encode(), nil
}

// startSecondaries starts, once every vCPU is loaded, the ones the guest
// had on (where they were) or about to be (at their CPU_ON).
func (m *Machine) startSecondaries() {
	for k, s := range m.cpus {
		if s == nil || s.vcpu.Powers.State(k) == VCPUOff {
			continue
		}
		s.started.Store(true)
		m.kick(k)
	}
}

// dropSecondaries turns every other vCPU off, the guest no longer this
// board's (given up to another, or an incoming one discarded): each is
// emptied on its CPU -- its timers stopped, its virtual interface reset --
// and waits for a CPU_ON as at power-on. The vCPUs are held, or were
// never started.
func (m *Machine) dropSecondaries() {
	for k, s := range m.cpus {
		if s == nil {
			continue
		}
		s.vcpu.Powers.Off(k)
		s.started.Store(false)
		s.restored.Store(false)
		if err := m.onCPU(k, func() error {
			m.hw.StopGuestTimers()
			s.vif.Reset()
			return nil
		}); err != nil && m.VCPU.Log != nil {
			m.VCPU.Log(fmt.Sprintf("emptying vCPU %d: %v", k, err))
		}
	}
	for k := range m.sgis {
		m.sgis[k].Store(0)
	}
}
