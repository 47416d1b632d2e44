// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package vcpuif

import (
	"errors"
	"fmt"

	"github.com/ferry-hv/ferry/internal/wire"
)

// Version is the version of State's encoding this package writes; it
// reads every version from Oldest.
const (
	Version = 1
	Oldest  = 1
)

// State is the guest's virtual CPU interface, as a migration moves it:
// what is listed, what waits, and the guest's own CPU-interface registers
// (its priority mask, binary points, group enables and EOI mode in VMCR,
// the priorities of the interrupts it is handling in the APRs).
type State struct {
	NumLRs uint8          // the source's list registers, 1 to 16
	LRs    [MaxLRs]uint64 // ICH_LR<n>_EL2; a free one, or one past NumLRs, is zero
	Queue  []uint64       // interrupts waiting for a list register: Pending entries, by priority
	VMCR   uint64         // ICH_VMCR_EL2
	HCR    uint64         // ICH_HCR_EL2's En and EOIcount
	NumAPR uint8          // ICH_AP0R<n>_EL2/ICH_AP1R<n>_EL2 per group at the source: 1, 2 or 4
	AP0R   [4]uint32      // ICH_AP0R<n>_EL2; those past NumAPR are zero
	AP1R   [4]uint32      // ICH_AP1R<n>_EL2; likewise
}

// Capture reads the interface's state. The guest must not be running.
func (v *VIF) Capture() *State {
	s := &State{NumLRs: uint8(v.n), NumAPR: uint8(v.apr)}
	free := v.r.ELRSR()
	for i := range v.n {
		if free&(1<<i) == 0 {
			s.LRs[i] = v.r.LR(i)
		}
	}
	s.Queue = append([]uint64(nil), v.q[:v.nq]...)
	s.VMCR = v.r.VMCR() & vmcrDefined
	s.HCR = v.r.HCR() & hcrKept
	for i := range v.apr {
		s.AP0R[i] = uint32(v.r.AP0R(i))
		s.AP1R[i] = uint32(v.r.AP1R(i))
	}
	return s
}

// Restore loads s into the interface, which holds nothing of a guest's
// (New, or Reset): the active entries into list registers, the pending
// ones into the queue, then as many as fit listed, most urgent first. A
// state the interface cannot hold -- more active entries than it has list
// registers, active priorities in another layout -- is refused with
// nothing changed.
func (v *VIF) Restore(s *State) error {
	if err := s.Validate(); err != nil {
		return err
	}
	if int(s.NumAPR) != v.apr {
		for i := range 4 {
			if s.AP0R[i] != 0 || s.AP1R[i] != 0 {
				return &FieldError{Field: fmt.Sprintf("AP0R/AP1R[%d]", i), Value: uint64(s.AP0R[i])<<32 | uint64(s.AP1R[i]),
					Why: fmt.Sprintf("active priorities in %d registers; this CPU has %d (another priority layout)", s.NumAPR, v.apr)}
			}
		}
	}
	var active []uint64
	for _, lr := range s.LRs {
		if st := lrState(lr); st == Active || st == PendingActive {
			active = append(active, lr)
		}
	}
	if len(active) > v.n {
		return &FieldError{Field: "LRs", Value: uint64(len(active)),
			Why: fmt.Sprintf("active entries; this CPU has %d list registers", v.n)}
	}
	for i := range v.n {
		lr := uint64(0)
		if i < len(active) {
			lr = active[i]
		}
		v.r.SetLR(i, lr)
	}
	v.nq, v.queued = 0, [queueWords]uint64{}
	for _, lr := range s.LRs {
		if lrState(lr) == Pending {
			v.insert(lr, true) // listed before anything queued of its priority
		}
	}
	for _, e := range s.Queue {
		v.insert(e, false)
	}
	v.r.SetVMCR(s.VMCR)
	for i := range v.apr {
		v.r.SetAP0R(i, uint64(s.AP0R[i]))
		v.r.SetAP1R(i, uint64(s.AP1R[i]))
	}
	v.uie = false
	v.r.SetHCR(v.r.HCR()&^(hcrKept|HCR_UIE) | s.HCR)
	v.fill(v.r.ELRSR())
	return nil
}

// CheckPhysical checks that the physical interrupt of every HW entry, listed
// or queued, is active (active says so for an INTID): Ferry acknowledged
// it, and the guest's deactivation is to end it. A destination calls it
// once the distributor's state is restored.
func (s *State) CheckPhysical(active func(intid uint32) bool) error {
	check := func(field string, e uint64) error {
		if e&LR_HW != 0 && !active(lrINTID(e)) {
			return &FieldError{Field: field, Value: e, Why: fmt.Sprintf("HW entry for INTID %d, which is not active at the GIC", lrINTID(e))}
		}
		return nil
	}
	for i, lr := range s.LRs {
		if err := check(fmt.Sprintf("LRs[%d]", i), lr); err != nil {
			return err
		}
	}
	for i, e := range s.Queue {
		if err := check(fmt.Sprintf("Queue[%d]", i), e); err != nil {
			return err
		}
	}
	return nil
}

// FieldError is a state refused for one field's value.
type FieldError struct {
	Field string
	Value uint64
	Why   string
}

func (e *FieldError) Error() string {
	return fmt.Sprintf("gic/vcpuif: %s is %#x: %s", e.Field, e.Value, e.Why)
}

// Encoding (little-endian, package wire):
//
//	NumLRs u8 | LRs (NumLRs u64) | VMCR u64 | HCR u64 | NumAPR u8 |
//	AP0R (NumAPR u32) | AP1R (NumAPR u32) | NumQueued u16 | Queue (NumQueued u64)
//
// Every count is checked before anything is read or allocated.
// MaxEncodedSize bounds an encoded State: a full queue takes 8,322 bytes.
const MaxEncodedSize = 16 << 10

// Decode errors a caller may want to tell apart.
var (
	ErrTooLarge = errors.New("gic/vcpuif: state too large")
	ErrVersion  = errors.New("gic/vcpuif: unsupported state version")
)

// Encode returns the state's wire form.
func (s *State) Encode() []byte {
	var w wire.Writer
	w.U8(s.NumLRs)
	for _, lr := range s.LRs[:min(int(s.NumLRs), MaxLRs)] {
		w.U64(lr)
	}
	w.U64(s.VMCR)
	w.U64(s.HCR)
	w.U8(s.NumAPR)
	for _, ap := range [][4]uint32{s.AP0R, s.AP1R} {
		for _, v := range ap[:min(int(s.NumAPR), 4)] {
			w.U32(v)
		}
	}
	w.U16(uint16(len(s.Queue)))
	for _, e := range s.Queue {
		w.U64(e)
	}
	return w.Bytes()
}

// Decode reads a state of a version from Oldest to Version, as Encode
// writes it, and validates it. Each failure names the field and the value.
func Decode(version uint16, b []byte) (*State, error) {
	if version < Oldest || version > Version {
		return nil, fmt.Errorf("%w: version %d; this Ferry reads %d to %d", ErrVersion, version, Oldest, Version)
	}
	if len(b) > MaxEncodedSize {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(b), MaxEncodedSize)
	}
	r := wire.NewReader(b)
	s := &State{}
	s.NumLRs = r.U8()
	if r.Err() == nil && (s.NumLRs < 1 || s.NumLRs > MaxLRs) {
		return nil, &FieldError{Field: "NumLRs", Value: uint64(s.NumLRs), Why: "want 1 to 16"}
	}
	for i := range int(s.NumLRs) {
		s.LRs[i] = r.U64()
	}
	s.VMCR = r.U64()
	s.HCR = r.U64()
	s.NumAPR = r.U8()
	if r.Err() == nil && !validAPRs(s.NumAPR) {
		return nil, &FieldError{Field: "NumAPR", Value: uint64(s.NumAPR), Why: "want 1, 2 or 4"}
	}
	for _, ap := range []*[4]uint32{&s.AP0R, &s.AP1R} {
		for i := range int(s.NumAPR) {
			ap[i] = r.U32()
		}
	}
	n := int(r.U16())
	if r.Err() == nil && n > maxQueue {
		return nil, &FieldError{Field: "Queue", Value: uint64(n), Why: fmt.Sprintf("entries; at most %d (one per INTID)", maxQueue)}
	}
	if r.Err() == nil && n > 0 {
		s.Queue = make([]uint64, n)
		for i := range s.Queue {
			s.Queue[i] = r.U64()
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("gic/vcpuif: decode: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

func validAPRs(n uint8) bool { return n == 1 || n == 2 || n == 4 }

// Validate checks that every field holds what Ferry's interface can: list
// registers as Ferry writes them (Group 1; a HW entry linked to the same
// INTID, a PPI or SPI, never Pending and Active; a virtual one without an
// EOI maintenance request), no INTID listed twice or both queued and
// listed pending, a queue of pending entries by priority, and no bit
// outside a register's defined fields.
func (s *State) Validate() error {
	if s.NumLRs < 1 || s.NumLRs > MaxLRs {
		return &FieldError{Field: "NumLRs", Value: uint64(s.NumLRs), Why: "want 1 to 16"}
	}
	var listed, pending [queueWords]uint64
	for i, lr := range s.LRs {
		field := fmt.Sprintf("LRs[%d]", i)
		if i >= int(s.NumLRs) || lrState(lr) == Invalid {
			if lr != 0 {
				return &FieldError{Field: field, Value: lr, Why: fmt.Sprintf("a free or absent list register (NumLRs %d) must be zero", s.NumLRs)}
			}
			continue
		}
		if err := checkEntry(field, lr); err != nil {
			return err
		}
		id := lrINTID(lr)
		if listed[id/64]&(1<<(id%64)) != 0 {
			return &FieldError{Field: field, Value: lr, Why: fmt.Sprintf("INTID %d is in another list register too", id)}
		}
		listed[id/64] |= 1 << (id % 64)
		if st := lrState(lr); st == Pending || st == PendingActive {
			pending[id/64] |= 1 << (id % 64)
		}
	}
	if len(s.Queue) > maxQueue {
		return &FieldError{Field: "Queue", Value: uint64(len(s.Queue)), Why: fmt.Sprintf("entries; at most %d", maxQueue)}
	}
	var queued [queueWords]uint64
	for i, e := range s.Queue {
		field := fmt.Sprintf("Queue[%d]", i)
		if lrState(e) != Pending {
			return &FieldError{Field: field, Value: e, Why: "a queued entry is Pending"}
		}
		if err := checkEntry(field, e); err != nil {
			return err
		}
		id := lrINTID(e)
		switch {
		case queued[id/64]&(1<<(id%64)) != 0:
			return &FieldError{Field: field, Value: e, Why: fmt.Sprintf("INTID %d is queued twice", id)}
		case pending[id/64]&(1<<(id%64)) != 0:
			return &FieldError{Field: field, Value: e, Why: fmt.Sprintf("INTID %d is already listed pending", id)}
		case i > 0 && lrPrio(e) < lrPrio(s.Queue[i-1]):
			return &FieldError{Field: field, Value: e, Why: "more urgent than the entry before it: the queue is by priority"}
		}
		queued[id/64] |= 1 << (id % 64)
	}
	switch {
	case s.VMCR&^vmcrDefined != 0:
		return &FieldError{Field: "VMCR", Value: s.VMCR, Why: fmt.Sprintf("RES0 bits set (defined %#x)", uint64(vmcrDefined))}
	case s.HCR&^hcrKept != 0:
		return &FieldError{Field: "HCR", Value: s.HCR, Why: "bits other than En and EOIcount"}
	case !validAPRs(s.NumAPR):
		return &FieldError{Field: "NumAPR", Value: uint64(s.NumAPR), Why: "want 1, 2 or 4"}
	}
	for i := int(s.NumAPR); i < 4; i++ {
		if s.AP0R[i] != 0 || s.AP1R[i] != 0 {
			return &FieldError{Field: fmt.Sprintf("AP0R/AP1R[%d]", i), Value: uint64(s.AP0R[i])<<32 | uint64(s.AP1R[i]),
				Why: fmt.Sprintf("beyond NumAPR %d", s.NumAPR)}
		}
	}
	return nil
}

// checkEntry checks one valid list-register value as Ferry writes them.
func checkEntry(field string, e uint64) error {
	id := lrINTID(e)
	why := ""
	switch {
	case e&lrRES0 != 0:
		why = "RES0 bits set"
	case id > MaxINTID:
		why = fmt.Sprintf("vINTID %d: not an SGI, PPI or SPI", id)
	case e&LR_Group == 0:
		why = "Group 0: the guest's interrupts are Group 1"
	case e&LR_HW == 0 && e&LR_pINTID != 0:
		why = "a virtual entry with pINTID bits (an EOI maintenance request, which Ferry never makes)"
	case e&LR_HW != 0 && id < FirstPPI:
		why = fmt.Sprintf("HW entry for SGI %d", id)
	case e&LR_HW != 0 && uint32(e&LR_pINTID>>LR_pINTIDShift) != id:
		why = fmt.Sprintf("HW entry linked to INTID %d, not its own %d", e&LR_pINTID>>LR_pINTIDShift, id)
	case e&LR_HW != 0 && lrState(e) == PendingActive:
		why = "HW entry Pending and Active (the physical GIC holds the pending state)"
	default:
		return nil
	}
	return &FieldError{Field: field, Value: e, Why: why}
}
