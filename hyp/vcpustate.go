// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"errors"
	"fmt"

	"github.com/ferry-hv/ferry/internal/wire"
)

// vcpuStateVersion is the version of a "vcpu/k" state this Ferry writes;
// it reads every version from vcpuStateOldest.
const (
	vcpuStateVersion = 1
	vcpuStateOldest  = 1
)

// maxVCPUState bounds an encoded vcpuState: a CPU state with SVE's
// predicates and PAuth keys is a few KiB, a virtual interface's a few
// hundred bytes.
const maxVCPUState = 64 << 10

// vcpuState is the state of the guest's vCPU k > 0 that the machine's
// other components do not hold: its PSCI power state (with the start of a
// CPU_ON not yet taken), and the records of its CPU, its timer, its
// redistributor and its virtual CPU interface, each in the form and
// version of its own codec -- the codecs of vCPU 0's "cpu", "timer",
// "gic" and "gic-vif" components, whose versions the handshake compares.
//
// Encoding (little-endian, package wire):
//
//	Power u8 | Start.Entry u64 | Start.Context u64 |
//	4 records (CPU, Timer, Redist, VIF), each: Version u16 | Data (u32 length, bytes)
type vcpuState struct {
	Power                   VCPUPower
	Start                   CPUStart // ON_PENDING: the CPU_ON's; zero otherwise
	CPU, Timer, Redist, VIF record
}

// record is one codec's encoded state and its version.
type record struct {
	Version uint16
	Data    []byte
}

func (s *vcpuState) records() []*record { return []*record{&s.CPU, &s.Timer, &s.Redist, &s.VIF} }

// Encode returns s's wire form.
func (s *vcpuState) Encode() []byte {
	var w wire.Writer
	w.U8(uint8(s.Power))
	w.U64(s.Start.Entry)
	w.U64(s.Start.Context)
	for _, r := range s.records() {
		w.U16(r.Version)
		w.Blob(r.Data)
	}
	return w.Bytes()
}

// errVCPUState is the error of every vcpuState that does not decode.
var errVCPUState = errors.New("vcpu state")

// decodeVCPUState reads a vcpuState of a version from vcpuStateOldest to
// vcpuStateVersion. The records' data are checked by their own codecs
// (the component's Decode); here only the power state, the start and the
// lengths.
func decodeVCPUState(version uint16, b []byte) (*vcpuState, error) {
	if version < vcpuStateOldest || version > vcpuStateVersion {
		return nil, fmt.Errorf("%w: version %d; this Ferry reads %d to %d", errVCPUState, version, vcpuStateOldest, vcpuStateVersion)
	}
	if len(b) > maxVCPUState {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", errVCPUState, len(b), maxVCPUState)
	}
	r := wire.NewReader(b)
	s := &vcpuState{Power: VCPUPower(r.U8())}
	s.Start.Entry, s.Start.Context = r.U64(), r.U64()
	for _, rec := range s.records() {
		rec.Version = r.U16()
		rec.Data = r.Blob(maxVCPUState)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %v", errVCPUState, err)
	}
	switch s.Power {
	case VCPUOn, VCPUOff:
		if s.Start != (CPUStart{}) {
			return nil, fmt.Errorf("%w: a vCPU %s with a CPU_ON's start %#x (context %#x)", errVCPUState, s.Power, s.Start.Entry, s.Start.Context)
		}
	case VCPUOnPending:
	default:
		return nil, fmt.Errorf("%w: power state %d", errVCPUState, uint8(s.Power))
	}
	return s, nil
}
