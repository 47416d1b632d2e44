// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"errors"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"maps"
	"slices"
	"strings"

	"github.com/ferry-hv/ferry/cpu"
	"github.com/ferry-hv/ferry/internal/wire"
)

// ProtocolVersion is the version of this stream protocol, carried in Hello.
// Both sides must speak the same one (the framing); the machine's state is
// versioned per component instead (Fingerprint.States). Version 2 added
// pre-copy rounds (Round, Dirty) and the CRC32C digest in End; version 3
// the session in Hello and the commit protocol (Commit and Resumed naming
// the migration, Query and Outcome); version 4 the state versions in
// Hello; version 5 the guest's CPUs in Hello.
const ProtocolVersion = 5

// Magic opens every Hello payload: "FRRY" as it appears in the stream.
const Magic uint32 = 'F' | 'R'<<8 | 'R'<<16 | 'Y'<<24

// PageSize is the size of a guest page the protocol moves.
const PageSize = 4096

// Limits of a Fingerprint, checked on encode and decode.
const (
	MaxFeatures    = 64  // feature registers
	MaxFeatureName = 64  // bytes of a register name
	MaxRanges      = 64  // guest RAM ranges
	MaxDevices     = 256 // devices
	MaxDeviceName  = 128 // bytes of a device name
	MaxCPUs        = 512 // the guest's CPUs
)

// maxHello is the Hello cap: a fingerprint at every limit, and the
// session.
const maxHello = sessionSize + 4 + 2 + 8 + 4 +
	4 + MaxFeatures*(4+MaxFeatureName+8) +
	4 + MaxRanges*16 +
	4 + MaxDevices*(4+MaxDeviceName) +
	4 + MaxStates*(4+MaxStateName+2+2) +
	4 + MaxCPUs*8

// Fingerprint is what the destination needs to know about the source's
// machine to accept its guest. The source sends it in Hello.
type Fingerprint struct {
	// Protocol is the stream protocol version the side speaks. Send and
	// Receive set it to ProtocolVersion; DecodeHello reads it.
	Protocol uint16
	MIDR     uint64
	// Features holds the CPU ID registers by name, e.g. "ID_AA64PFR0_EL1".
	// Encoded sorted by name.
	Features map[string]uint64
	// RAM is the guest RAM, page-aligned, ascending and non-overlapping.
	RAM []phys.Range
	// Devices names the devices the guest sees and how each is treated,
	// e.g. "arm,pl011@0x9000000:passthrough" (hyp.Description.Visible).
	// Encoded sorted; order does not matter.
	Devices  []string
	PageSize uint32
	// States are the machine's migratable components and their state
	// versions (encoded sorted by name). The source's say what its States
	// records will be; the destination's what it reads. Compatible checks
	// them in Hello, before any RAM moves.
	States []StateVersion
	// CPUs are the guest's CPUs, each by the MPIDR_EL1 it reads
	// (VMPIDR_EL2), in the order of its vCPUs: a guest's kernel keeps
	// its CPUs' identities (their affinities, which its interrupt
	// routing and scheduler topology use), so the destination gives it
	// the same CPUs or refuses in Hello. Each affinity once.
	CPUs []uint64
}

// StateVersion is one migratable component's state version: a source
// writes Version, a destination reads every version from Oldest to
// Version. The rule (docs/migration.md, "Versions"): a Ferry reads the
// states an older Ferry wrote back to Oldest, and refuses a newer one's
// before any RAM moves.
type StateVersion struct {
	Name            string
	Version, Oldest uint16
}

// Pages is the number of guest pages in f.RAM.
func (f Fingerprint) Pages() uint64 {
	var n uint64
	for _, r := range f.RAM {
		n += r.Size / PageSize
	}
	return n
}

// Encode returns the fingerprint as it opens a Hello payload: magic,
// protocol version, then its fields. It refuses a fingerprint that
// DecodeHello would refuse.
func (f Fingerprint) Encode() ([]byte, error) {
	names := slices.Sorted(maps.Keys(f.Features))
	devices := slices.Sorted(slices.Values(f.Devices))
	if err := validate(names, f.RAM, devices); err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	if err := checkStates(f.States); err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	if err := checkCPUs(f.CPUs); err != nil {
		return nil, fmt.Errorf("fingerprint: %w", err)
	}
	var w wire.Writer
	w.U32(Magic)
	w.U16(f.Protocol)
	w.U64(f.MIDR)
	w.U32(f.PageSize)
	w.U32(uint32(len(names)))
	for _, n := range names {
		w.Blob([]byte(n))
		w.U64(f.Features[n])
	}
	w.U32(uint32(len(f.RAM)))
	for _, r := range f.RAM {
		w.U64(r.Base)
		w.U64(r.Size)
	}
	w.U32(uint32(len(devices)))
	for _, d := range devices {
		w.Blob([]byte(d))
	}
	states := slices.SortedFunc(slices.Values(f.States), func(a, b StateVersion) int { return strings.Compare(a.Name, b.Name) })
	w.U32(uint32(len(states)))
	for _, st := range states {
		w.Blob([]byte(st.Name))
		w.U16(st.Version)
		w.U16(st.Oldest)
	}
	w.U32(uint32(len(f.CPUs)))
	for _, c := range f.CPUs {
		w.U64(c)
	}
	return w.Bytes(), nil
}

// decodeFingerprint reads the fingerprint that opens a Hello payload. The
// magic is checked first (ErrMagic), then the protocol version: if it is
// not ProtocolVersion the rest is not read (its layout may differ) and a
// Fingerprint with only Protocol set is returned, for Compatible to
// refuse. Otherwise every field is decoded and checked: counts within
// their limits before they are used, names printable and in canonical
// (sorted, unique) order, RAM ranges page-aligned, ascending and
// non-overlapping.
func decodeFingerprint(r *wire.Reader) (Fingerprint, error) {
	if m := r.U32(); r.Err() == nil && m != Magic {
		return Fingerprint{}, fmt.Errorf("%w: %#08x, want %#08x", ErrMagic, m, Magic)
	}
	f := Fingerprint{Protocol: r.U16()}
	if err := r.Err(); err != nil {
		return Fingerprint{}, fmt.Errorf("hello: %w", err)
	}
	if f.Protocol != ProtocolVersion {
		return f, nil
	}
	f.MIDR = r.U64()
	f.PageSize = r.U32()
	var names []string
	if n := count(r, "features", MaxFeatures); n > 0 {
		f.Features = make(map[string]uint64, n)
		for range n {
			name := string(r.Blob(MaxFeatureName))
			f.Features[name] = r.U64()
			names = append(names, name)
		}
	}
	if n := count(r, "RAM ranges", MaxRanges); n > 0 {
		f.RAM = make([]phys.Range, n)
		for i := range f.RAM {
			f.RAM[i] = phys.Range{Base: r.U64(), Size: r.U64()}
		}
	}
	if n := count(r, "devices", MaxDevices); n > 0 {
		f.Devices = make([]string, n)
		for i := range f.Devices {
			f.Devices[i] = string(r.Blob(MaxDeviceName))
		}
	}
	if n := count(r, "states", MaxStates); n > 0 {
		f.States = make([]StateVersion, n)
		for i := range f.States {
			f.States[i] = StateVersion{Name: string(r.Blob(MaxStateName)), Version: r.U16(), Oldest: r.U16()}
		}
	}
	if n := count(r, "CPUs", MaxCPUs); n > 0 {
		f.CPUs = make([]uint64, n)
		for i := range f.CPUs {
			f.CPUs[i] = r.U64()
		}
	}
	if err := r.Err(); err != nil {
		return Fingerprint{}, fmt.Errorf("hello: %w", err)
	}
	if !slices.IsSortedFunc(f.States, func(a, b StateVersion) int { return strings.Compare(a.Name, b.Name) }) {
		return Fingerprint{}, fmt.Errorf("hello: %w: state names not in sorted order", ErrInvalid)
	}
	if err := checkStates(f.States); err != nil {
		return Fingerprint{}, fmt.Errorf("hello: %w", err)
	}
	if err := checkCPUs(f.CPUs); err != nil {
		return Fingerprint{}, fmt.Errorf("hello: %w", err)
	}
	if !slices.IsSorted(names) || !slices.IsSorted(f.Devices) {
		return Fingerprint{}, fmt.Errorf("hello: %w: feature or device names not in sorted order", ErrInvalid)
	}
	if err := validate(names, f.RAM, f.Devices); err != nil {
		return Fingerprint{}, fmt.Errorf("hello: %w", err)
	}
	return f, nil
}

// count reads a u32 count and fails r if it is over max.
func count(r *wire.Reader, what string, max int) int {
	n := r.U32()
	if r.Err() != nil {
		return 0
	}
	if n > uint32(max) {
		r.Fail(fmt.Errorf("%w: %d %s, limit %d", ErrInvalid, n, what, max))
		return 0
	}
	return int(n)
}

// validate checks sorted names and devices and the RAM ranges.
func validate(names []string, ram []phys.Range, devices []string) error {
	if len(names) > MaxFeatures {
		return fmt.Errorf("%w: %d features, limit %d", ErrInvalid, len(names), MaxFeatures)
	}
	if len(ram) > MaxRanges {
		return fmt.Errorf("%w: %d RAM ranges, limit %d", ErrInvalid, len(ram), MaxRanges)
	}
	if len(devices) > MaxDevices {
		return fmt.Errorf("%w: %d devices, limit %d", ErrInvalid, len(devices), MaxDevices)
	}
	for i, n := range names {
		if err := checkName("feature", n, MaxFeatureName); err != nil {
			return err
		}
		if i > 0 && names[i-1] == n {
			return fmt.Errorf("%w: feature %q twice", ErrInvalid, n)
		}
	}
	for i, d := range devices {
		if err := checkName("device", d, MaxDeviceName); err != nil {
			return err
		}
		if i > 0 && devices[i-1] == d {
			return fmt.Errorf("%w: device %q twice", ErrInvalid, d)
		}
	}
	return checkRAM(ram)
}

// checkStates checks the state versions: names valid and unique, each
// version range 1 <= Oldest <= Version.
func checkStates(states []StateVersion) error {
	if len(states) > MaxStates {
		return fmt.Errorf("%w: %d states, limit %d", ErrInvalid, len(states), MaxStates)
	}
	seen := map[string]bool{}
	for _, st := range states {
		if err := checkName("state", st.Name, MaxStateName); err != nil {
			return err
		}
		if seen[st.Name] {
			return fmt.Errorf("%w: state %q twice", ErrInvalid, st.Name)
		}
		seen[st.Name] = true
		if st.Oldest == 0 || st.Oldest > st.Version {
			return fmt.Errorf("%w: state %q versions %d to %d", ErrInvalid, st.Name, st.Oldest, st.Version)
		}
	}
	return nil
}

// checkCPUs checks the guest's CPUs: at most MaxCPUs, no affinity twice.
func checkCPUs(cpus []uint64) error {
	if len(cpus) > MaxCPUs {
		return fmt.Errorf("%w: %d CPUs, limit %d", ErrInvalid, len(cpus), MaxCPUs)
	}
	seen := make(map[uint64]int, len(cpus))
	for i, c := range cpus {
		if j, dup := seen[c&cpu.MPIDRAffinity]; dup {
			return fmt.Errorf("%w: CPUs %d and %d share the affinity %#x", ErrInvalid, j, i, c&cpu.MPIDRAffinity)
		}
		seen[c&cpu.MPIDRAffinity] = i
	}
	return nil
}

func checkRAM(ram []phys.Range) error {
	for i, r := range ram {
		switch {
		case r.Size == 0 || r.Base%PageSize != 0 || r.Size%PageSize != 0:
			return fmt.Errorf("%w: RAM range %d base %#x size %#x: not a non-empty run of %d-byte pages", ErrInvalid, i, r.Base, r.Size, PageSize)
		case r.Base+r.Size < r.Base:
			return fmt.Errorf("%w: RAM range %d base %#x size %#x: past the end of the address space", ErrInvalid, i, r.Base, r.Size)
		case i > 0 && r.Base < ram[i-1].End():
			return fmt.Errorf("%w: RAM range %d %v overlaps or precedes range %d %v", ErrInvalid, i, r, i-1, ram[i-1])
		}
	}
	return nil
}

// checkName accepts 1 to max printable ASCII bytes without spaces.
func checkName(what, s string, max int) error {
	if len(s) == 0 || len(s) > max {
		return fmt.Errorf("%w: %s name of %d bytes, want 1 to %d", ErrInvalid, what, len(s), max)
	}
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] > '~' {
			return fmt.Errorf("%w: %s name %q: byte %d is not printable ASCII", ErrInvalid, what, s, i)
		}
	}
	return nil
}

// Mismatch is one reason Compatible refuses: the field and both values.
type Mismatch struct {
	Field       string
	Source, Dst string
}

func (m *Mismatch) Error() string {
	return fmt.Sprintf("%s: source %s, destination %s", m.Field, m.Source, m.Dst)
}

func (m *Mismatch) Unwrap() error { return ErrIncompatible }

// Compatible says whether a guest running on a machine with fingerprint src
// can continue on one with fingerprint dst. It returns nil, or every
// mismatch (each a *Mismatch wrapping ErrIncompatible, joined) naming the
// field and both values.
//
// The checks are strict equality: the same protocol version, page size
// (and it must be PageSize), MIDR, every feature register present on either
// side with the same value, the same RAM ranges, the same device set and
// the same CPUs in the same order.
// Strict equality of the ID registers is deliberately conservative for now:
// a destination whose features are a superset of the source's could in
// principle take the guest, but deciding that needs per-field rules (the ID
// register fields are not all "higher is more"), which we have not written.
func Compatible(src, dst Fingerprint) error {
	var errs []error
	differ := func(field, s, d string) {
		errs = append(errs, &Mismatch{Field: field, Source: s, Dst: d})
	}
	if src.Protocol != dst.Protocol {
		differ("protocol version", fmt.Sprint(src.Protocol), fmt.Sprint(dst.Protocol))
		return errors.Join(errs...) // nothing else of the source was read
	}
	switch {
	case src.PageSize != dst.PageSize:
		differ("page size", fmt.Sprint(src.PageSize), fmt.Sprint(dst.PageSize))
	case src.PageSize != PageSize:
		differ("page size", fmt.Sprint(src.PageSize), fmt.Sprintf("%d (the only size this protocol moves is %d)", dst.PageSize, PageSize))
	}
	if src.MIDR != dst.MIDR {
		differ("MIDR_EL1", hexU64(src.MIDR), hexU64(dst.MIDR))
	}
	for _, name := range slices.Sorted(maps.Keys(union(src.Features, dst.Features))) {
		s, sok := src.Features[name]
		d, dok := dst.Features[name]
		if sok != dok || s != d {
			differ(name, feature(s, sok), feature(d, dok))
		}
	}
	if !slices.Equal(src.RAM, dst.RAM) {
		differ("RAM", ranges(src.RAM), ranges(dst.RAM))
	}
	sd := slices.Sorted(slices.Values(src.Devices))
	dd := slices.Sorted(slices.Values(dst.Devices))
	if !slices.Equal(sd, dd) {
		// Only the ones that differ: the lists are long, a reason is not.
		only := func(a, b []string) string {
			var o []string
			for _, x := range a {
				if !slices.Contains(b, x) {
					o = append(o, x)
				}
			}
			return fmt.Sprintf("%q", o)
		}
		differ("devices", "only "+only(sd, dd), "only "+only(dd, sd))
	}
	if !slices.Equal(src.CPUs, dst.CPUs) {
		differ("CPUs", cpuList(src.CPUs), cpuList(dst.CPUs))
	}
	compatibleStates(src.States, dst.States, differ)
	return errors.Join(errs...)
}

// cpuList is "2 (MPIDR 0x80000000 0x80000001)".
func cpuList(cpus []uint64) string {
	ids := make([]string, len(cpus))
	for i, c := range cpus {
		ids[i] = hexU64(c)
	}
	return fmt.Sprintf("%d (MPIDR %s)", len(cpus), strings.Join(ids, " "))
}

// compatibleStates checks that the destination reads every state the
// source will send, at the version the source writes, and that the source
// sends every state the destination needs.
func compatibleStates(src, dst []StateVersion, differ func(field, s, d string)) {
	byName := func(sv []StateVersion) map[string]StateVersion {
		m := map[string]StateVersion{}
		for _, s := range sv {
			m[s.Name] = s
		}
		return m
	}
	sm, dm := byName(src), byName(dst)
	names := slices.Sorted(maps.Keys(sm))
	for n := range dm {
		if _, ok := sm[n]; !ok {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	for _, n := range names {
		s, sok := sm[n]
		d, dok := dm[n]
		switch {
		case !dok:
			differ("state "+n, fmt.Sprintf("version %d", s.Version), "does not read it")
		case !sok:
			differ("state "+n, "does not send it", fmt.Sprintf("needs it (versions %d to %d)", d.Oldest, d.Version))
		case s.Version > d.Version:
			differ("state "+n, fmt.Sprintf("version %d", s.Version), fmt.Sprintf("reads %d to %d: a newer Ferry's state; upgrade the destination", d.Oldest, d.Version))
		case s.Version < d.Oldest:
			differ("state "+n, fmt.Sprintf("version %d", s.Version), fmt.Sprintf("reads %d to %d: too old a Ferry's state", d.Oldest, d.Version))
		}
	}
}

func union(a, b map[string]uint64) map[string]uint64 {
	u := maps.Clone(a)
	if u == nil {
		u = map[string]uint64{}
	}
	maps.Copy(u, b)
	return u
}

func hexU64(v uint64) string { return fmt.Sprintf("%#x", v) }

func feature(v uint64, ok bool) string {
	if !ok {
		return "absent"
	}
	return hexU64(v)
}

func ranges(rs []phys.Range) string {
	s := make([]string, len(rs))
	for i, r := range rs {
		s[i] = r.String()
	}
	return "[" + strings.Join(s, " ") + "]"
}
