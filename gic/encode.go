// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"errors"
	"fmt"

	"github.com/ferry-hv/ferry/internal/wire"
)

// Encoding (little-endian, package wire):
//
//	Dist:   CTLR u32 | NumSPIs u32 | Group, Enable, Pending, Active, GrpMod
//	        (ceil(NumSPIs/32) u32 each) | Priority (NumSPIs u8) |
//	        Config (ceil(NumSPIs/16) u32) | Route (NumSPIs u64)
//	Redist: CTLR u32 | WAKER u32 | Group, Enable, Pending, Active, GrpMod u32 |
//	        Priority 32 u8 | Config 2 u32
//
// Version 2 had the physical CPU interface's part after Redist:
//
//	CPU:    IGRPEN1 u64 | BPR1 u64 | NumAP1R u8 | AP1R 4 u64 | VMCR u64
//
// The Ferry that last wrote version 2 gave its guest the virtual CPU
// interface and wrote that part as zero, NumAP1R 1 (nothing of the
// physical interface was the guest's). Decode reads a version 2 state only
// so: one with anything else there came from a Ferry whose guest drove the
// physical CPU interface and had no virtual interface state to go with it.
//
// The only count on the wire is NumSPIs; every length follows from it, and
// it is checked before anything is allocated.
// MaxEncodedSize bounds an encoded State: 988 SPIs take 9,893 bytes.
const MaxEncodedSize = 16 << 10

// Decode errors a caller may want to tell apart.
var (
	ErrTooLarge = errors.New("gic: state too large")
	ErrVersion  = errors.New("gic: unsupported state version")
)

// Encode returns the state's wire form.
func (s *State) Encode() []byte {
	var w wire.Writer
	ds := &s.Dist
	w.U32(ds.CTLR)
	w.U32(ds.NumSPIs)
	for _, bm := range [][]uint32{ds.Group, ds.Enable, ds.Pending, ds.Active, ds.GrpMod} {
		for _, v := range bm {
			w.U32(v)
		}
	}
	for _, p := range ds.Priority {
		w.U8(p)
	}
	for _, v := range ds.Config {
		w.U32(v)
	}
	for _, v := range ds.Route {
		w.U64(v)
	}
	s.Redist.encode(&w)
	return w.Bytes()
}

func (rs *Redist) encode(w *wire.Writer) {
	for _, v := range []uint32{rs.CTLR, rs.WAKER, rs.Group, rs.Enable, rs.Pending, rs.Active, rs.GrpMod} {
		w.U32(v)
	}
	for _, p := range rs.Priority {
		w.U8(p)
	}
	w.U32(rs.Config[0])
	w.U32(rs.Config[1])
}

func (rs *Redist) decode(r *wire.Reader) {
	for _, p := range []*uint32{&rs.CTLR, &rs.WAKER, &rs.Group, &rs.Enable, &rs.Pending, &rs.Active, &rs.GrpMod} {
		*p = r.U32()
	}
	for i := range rs.Priority {
		rs.Priority[i] = r.U8()
	}
	rs.Config[0] = r.U32()
	rs.Config[1] = r.U32()
}

// Encode returns the redistributor's state alone in its wire form (as in
// a State's): the state of another vCPU's redistributor than the one a
// State holds.
func (rs *Redist) Encode() []byte {
	var w wire.Writer
	rs.encode(&w)
	return w.Bytes()
}

// DecodeRedist reads a redistributor's state as Redist.Encode writes it,
// of a version from Oldest to Version (its layout is the same in each),
// and validates it.
func DecodeRedist(version uint16, b []byte) (*Redist, error) {
	if version < Oldest || version > Version {
		return nil, fmt.Errorf("%w: version %d; this Ferry reads %d to %d", ErrVersion, version, Oldest, Version)
	}
	r := wire.NewReader(b)
	rs := &Redist{}
	rs.decode(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("gic: redistributor: decode: %w", err)
	}
	if err := rs.Validate(); err != nil {
		return nil, err
	}
	return rs, nil
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
	ds := &s.Dist
	ds.CTLR = r.U32()
	ds.NumSPIs = r.U32()
	if r.Err() == nil {
		if err := checkNumSPIs(ds.NumSPIs); err != nil {
			return nil, err
		}
		ds.alloc()
	}
	for _, bm := range [][]uint32{ds.Group, ds.Enable, ds.Pending, ds.Active, ds.GrpMod} {
		for i := range bm {
			bm[i] = r.U32()
		}
	}
	for i := range ds.Priority {
		ds.Priority[i] = r.U8()
	}
	for i := range ds.Config {
		ds.Config[i] = r.U32()
	}
	for i := range ds.Route {
		ds.Route[i] = r.U64()
	}
	s.Redist.decode(r)
	if version == 2 {
		if err := decodeV2CPU(r); err != nil {
			return nil, err
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("gic: decode: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// decodeV2CPU reads version 2's CPU part, which must be as the last Ferry
// to write version 2 wrote it: zero, NumAP1R 1.
func decodeV2CPU(r *wire.Reader) error {
	igrpen1, bpr1, napr := r.U64(), r.U64(), r.U8()
	var apr [4]uint64
	for i := range apr {
		apr[i] = r.U64()
	}
	vmcr := r.U64()
	if r.Err() != nil || igrpen1 == 0 && bpr1 == 0 && napr == 1 && apr == [4]uint64{} && vmcr == 0 {
		return nil
	}
	return fmt.Errorf("gic: version 2 CPU part IGRPEN1 %#x BPR1 %#x NumAP1R %d AP1R %#x VMCR %#x: "+
		"the guest drove the physical CPU interface, whose state has no place here (its CPU interface is the virtual one)",
		igrpen1, bpr1, napr, apr, vmcr)
}

func checkNumSPIs(n uint32) error {
	if n > MaxSPIs || (n%32 != 0 && n != MaxSPIs) {
		return fmt.Errorf("gic: Dist.NumSPIs is %d: want a multiple of 32 up to %d (32*GICD_TYPER.ITLinesNumber), or %d", n, 32*(maxLines-1), MaxSPIs)
	}
	return nil
}

// Validate checks that every field holds what a GICv3 can: the SPI count
// and the lengths that follow from it, and no bit outside a register's
// defined fields.
func (s *State) Validate() error {
	ds := &s.Dist
	if err := checkNumSPIs(ds.NumSPIs); err != nil {
		return err
	}
	n := int(ds.NumSPIs)
	if ds.CTLR&^distCTLRKept != 0 {
		return fmt.Errorf("gic: Dist.CTLR is %#x: bits outside EnableGrp0, EnableGrp1, ARE, DS", ds.CTLR)
	}
	bitmaps := []struct {
		name string
		v    []uint32
	}{{"Group", ds.Group}, {"Enable", ds.Enable}, {"Pending", ds.Pending}, {"Active", ds.Active}, {"GrpMod", ds.GrpMod}}
	for _, bm := range bitmaps {
		if len(bm.v) != words(n, 1) {
			return fmt.Errorf("gic: Dist.%s has %d words, NumSPIs %d needs %d", bm.name, len(bm.v), n, words(n, 1))
		}
		for w, v := range bm.v {
			if v&^lastMask(w, n, 1) != 0 {
				return fmt.Errorf("gic: Dist.%s[%d] is %#x: bits beyond SPI %d", bm.name, w, v, FirstSPI+n-1)
			}
		}
	}
	if len(ds.Priority) != n || len(ds.Route) != n || len(ds.Config) != words(n, 2) {
		return fmt.Errorf("gic: Dist.Priority/Route/Config have %d/%d/%d entries, NumSPIs %d needs %d/%d/%d",
			len(ds.Priority), len(ds.Route), len(ds.Config), n, n, n, words(n, 2))
	}
	for w, v := range ds.Config {
		if v&^(lastMask(w, n, 2)&cfgEdgeBits) != 0 {
			return fmt.Errorf("gic: Dist.Config[%d] is %#x: RES0 bits or bits beyond SPI %d", w, v, FirstSPI+n-1)
		}
	}
	for i, v := range ds.Route {
		if v&^irouterFields != 0 {
			return fmt.Errorf("gic: Dist.Route[%d] (INTID %d) is %#x: RES0 bits set", i, FirstSPI+i, v)
		}
	}
	return s.Redist.Validate()
}

// Validate checks that no bit outside a register's defined fields is set.
func (rs *Redist) Validate() error {
	switch {
	case rs.CTLR&^redistCTLRKept != 0:
		return fmt.Errorf("gic: Redist.CTLR is %#x: only the DPG bits are kept (LPIs are never enabled)", rs.CTLR)
	case rs.WAKER&^WAKER_ProcessorSleep != 0:
		return fmt.Errorf("gic: Redist.WAKER is %#x: only ProcessorSleep is kept", rs.WAKER)
	case rs.Config[0]&^cfgEdgeBits != 0 || rs.Config[1]&^cfgEdgeBits != 0:
		return fmt.Errorf("gic: Redist.Config is %#x %#x: RES0 bits set", rs.Config[0], rs.Config[1])
	}
	return nil
}
