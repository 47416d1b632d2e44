// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"maps"
	"reflect"
	"strings"
	"testing"
)

func TestFingerprintRoundTrip(t *testing.T) {
	f := testFingerprint()
	f.Protocol = ProtocolVersion
	p, err := EncodeHello(f, testSession())
	if err != nil {
		t.Fatal(err)
	}
	got, sess, err := DecodeHello(p)
	if err != nil || sess != testSession() {
		t.Fatal(sess, err)
	}
	want := f
	want.Devices = []string{"arm,gic-v3@8000000", "arm,pl011@9000000", "virtio,mmio@a000000"} // sorted
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v\nwant %+v", got, want)
	}
	if err := Compatible(f, got); err != nil {
		t.Fatal(err)
	}
}

func TestFingerprintLargest(t *testing.T) {
	f := Fingerprint{Protocol: ProtocolVersion, PageSize: PageSize, Features: map[string]uint64{}}
	for i := range MaxFeatures {
		f.Features[fmt.Sprintf("%0*d", MaxFeatureName, i)] = uint64(i)
	}
	for i := range MaxRanges {
		f.RAM = append(f.RAM, phys.Range{uint64(i) << 32, 1 << 20})
	}
	for i := range MaxDevices {
		f.Devices = append(f.Devices, fmt.Sprintf("%0*d", MaxDeviceName, i))
	}
	for i := range MaxStates {
		f.States = append(f.States, StateVersion{Name: fmt.Sprintf("%0*d", MaxStateName, i), Version: 9, Oldest: 1})
	}
	for i := range MaxCPUs {
		f.CPUs = append(f.CPUs, 0x80000000|uint64(i>>4)<<8|uint64(i&15)) // QEMU virt's packing: 16 to a cluster
	}
	p, err := EncodeHello(f, testSession())
	if err != nil {
		t.Fatal(err)
	}
	if len(p) != MaxPayload(TypeHello) {
		t.Fatalf("largest hello %d bytes, cap %d", len(p), MaxPayload(TypeHello))
	}
	if _, _, err := DecodeHello(p); err != nil {
		t.Fatal(err)
	}
	f.States = append(f.States, StateVersion{Name: "one-too-many", Version: 1, Oldest: 1})
	if _, err := f.Encode(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	f.States = f.States[:MaxStates]
	f.Devices = append(f.Devices, "one-too-many")
	if _, err := f.Encode(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
	f.Devices = f.Devices[:MaxDevices]
	f.CPUs = append(f.CPUs, 0x80ff0000)
	if _, err := f.Encode(); !errors.Is(err, ErrInvalid) {
		t.Fatal(err)
	}
}

// The destination reads older states back to Oldest and refuses a newer
// Ferry's (and a state it does not know, or one it needs and the source
// does not send) in Hello, naming the state and both versions.
func TestCompatibleStates(t *testing.T) {
	dst := Fingerprint{Protocol: ProtocolVersion, PageSize: PageSize,
		States: []StateVersion{{"cpu", 3, 2}, {"gic", 2, 2}, {"timer", 1, 1}}}
	for _, tc := range []struct {
		name string
		src  []StateVersion
		want []string // "" = compatible
	}{
		{"same", []StateVersion{{"cpu", 3, 2}, {"gic", 2, 2}, {"timer", 1, 1}}, nil},
		{"older within Oldest", []StateVersion{{"cpu", 2, 1}, {"gic", 2, 1}, {"timer", 1, 1}}, nil},
		{"newer", []StateVersion{{"cpu", 4, 2}, {"gic", 2, 2}, {"timer", 1, 1}}, []string{"state cpu: source version 4, destination reads 2 to 3: a newer Ferry's state"}},
		{"too old", []StateVersion{{"cpu", 1, 1}, {"gic", 2, 2}, {"timer", 1, 1}}, []string{"state cpu: source version 1, destination reads 2 to 3: too old"}},
		{"unknown", []StateVersion{{"cpu", 3, 2}, {"gic", 2, 2}, {"timer", 1, 1}, {"virtio-net", 1, 1}}, []string{"state virtio-net: source version 1, destination does not read it"}},
		{"missing", []StateVersion{{"cpu", 3, 2}, {"gic", 2, 2}}, []string{"state timer: source does not send it, destination needs it"}},
	} {
		src := dst
		src.States = tc.src
		// Through the wire, as the destination sees it.
		p, err := EncodeHello(src, testSession())
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := DecodeHello(p)
		if err != nil {
			t.Fatal(err)
		}
		err = Compatible(got, dst)
		if len(tc.want) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrIncompatible) {
			t.Errorf("%s: %v, want ErrIncompatible", tc.name, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %q, want %q", tc.name, err, w)
			}
		}
	}
	for _, bad := range [][]StateVersion{{{"cpu", 1, 2}}, {{"cpu", 1, 0}}, {{"cpu", 1, 1}, {"cpu", 2, 1}}, {{"a b", 1, 1}}} {
		f := dst
		f.States = bad
		if _, err := f.Encode(); !errors.Is(err, ErrInvalid) {
			t.Errorf("states %v: %v", bad, err)
		}
	}
}

func TestDecodeFingerprintMagic(t *testing.T) {
	f := testFingerprint()
	f.Protocol = ProtocolVersion
	p, _ := EncodeHello(f, testSession())
	p[0] ^= 1
	if _, _, err := DecodeHello(p); !errors.Is(err, ErrMagic) {
		t.Fatalf("got %v, want ErrMagic", err)
	}
}

func TestDecodeFingerprintOtherProtocol(t *testing.T) {
	// A source speaking protocol 9: only the version is read, and
	// Compatible refuses it naming both versions.
	p := binary.LittleEndian.AppendUint32(nil, Magic)
	p = binary.LittleEndian.AppendUint16(p, 9)
	p = append(p, "whatever version 9 puts here"...)
	got, _, err := DecodeHello(p)
	if err != nil || got.Protocol != 9 {
		t.Fatalf("got %+v, %v", got, err)
	}
	dst := testFingerprint()
	dst.Protocol = ProtocolVersion
	err = Compatible(got, dst)
	if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), fmt.Sprintf("protocol version: source 9, destination %d", ProtocolVersion)) {
		t.Fatalf("got %v", err)
	}
}

func TestDecodeFingerprintRefuses(t *testing.T) {
	enc := func(f Fingerprint) []byte {
		f.Protocol = ProtocolVersion
		p, err := EncodeHello(f, testSession())
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := enc(testFingerprint())
	// Offsets: magic 0, protocol 4, MIDR 6, page size 14, feature count 18.
	cases := map[string]struct {
		p    []byte
		want error
	}{
		"empty":         {nil, ErrTruncated},
		"cut":           {good[:len(good)-1], ErrTruncated},
		"trailing":      {append(good[:len(good):len(good)], 0), nil},
		"feature count": {patch32(good, 18, MaxFeatures+1), ErrInvalid},
		"huge count":    {patch32(good, 18, 0xffffffff), ErrInvalid},
		"no session":    {good[:len(good)-sessionSize], ErrTruncated},
		"zero session":  {append(good[:len(good)-sessionSize:len(good)-sessionSize], make([]byte, sessionSize)...), ErrInvalid},
	}
	for name, c := range cases {
		_, _, err := DecodeHello(c.p)
		if err == nil || c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
	// Non-canonical or invalid contents, written by hand.
	for name, f := range map[string]func(*rawHello){
		"unsorted devices": func(h *rawHello) { h.devices = []string{"b", "a"} },
		"twice device":     func(h *rawHello) { h.devices = []string{"a", "a"} },
		"unsorted feature": func(h *rawHello) { h.features = []string{"B", "A"} },
		"twice feature":    func(h *rawHello) { h.features = []string{"A", "A"} },
		"empty name":       func(h *rawHello) { h.devices = []string{""} },
		"control byte":     func(h *rawHello) { h.devices = []string{"a\nb"} },
		"unaligned RAM":    func(h *rawHello) { h.ram = []phys.Range{{0x4000_0800, 1 << 20}} },
		"empty RAM range":  func(h *rawHello) { h.ram = []phys.Range{{0x4000_0000, 0}} },
		"RAM wraps":        func(h *rawHello) { h.ram = []phys.Range{{1<<64 - 1<<20, 2 << 20}} },
		"RAM overlaps":     func(h *rawHello) { h.ram = []phys.Range{{0x4000_0000, 2 << 20}, {0x4010_0000, 1 << 20}} },
		"RAM descending":   func(h *rawHello) { h.ram = []phys.Range{{0x8000_0000, 1 << 20}, {0x4000_0000, 1 << 20}} },
		"CPU twice":        func(h *rawHello) { h.cpus = []uint64{0x80000001, 0x81000001} }, // the same affinity
		"CPU count":        func(h *rawHello) { h.cpus = make([]uint64, MaxCPUs+1) },
	} {
		h := rawHello{features: []string{"A"}, ram: []phys.Range{{0x4000_0000, 1 << 20}}, devices: []string{"d"}}
		f(&h)
		if _, _, err := DecodeHello(h.bytes()); !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: got %v, want ErrInvalid", name, err)
		}
	}
}

func patch32(p []byte, off int, v uint32) []byte {
	q := append([]byte(nil), p...)
	binary.LittleEndian.PutUint32(q[off:], v)
	return q
}

// rawHello writes a Hello payload (with testSession) without Encode's
// checks.
type rawHello struct {
	features []string
	ram      []phys.Range
	devices  []string
	cpus     []uint64
}

func (h rawHello) bytes() []byte {
	le := binary.LittleEndian
	p := le.AppendUint32(nil, Magic)
	p = le.AppendUint16(p, ProtocolVersion)
	p = le.AppendUint64(p, 0x410fd083)
	p = le.AppendUint32(p, PageSize)
	p = le.AppendUint32(p, uint32(len(h.features)))
	for _, n := range h.features {
		p = le.AppendUint32(p, uint32(len(n)))
		p = append(p, n...)
		p = le.AppendUint64(p, 1)
	}
	p = le.AppendUint32(p, uint32(len(h.ram)))
	for _, r := range h.ram {
		p = le.AppendUint64(p, r.Base)
		p = le.AppendUint64(p, r.Size)
	}
	p = le.AppendUint32(p, uint32(len(h.devices)))
	for _, d := range h.devices {
		p = le.AppendUint32(p, uint32(len(d)))
		p = append(p, d...)
	}
	p = le.AppendUint32(p, 0) // states
	p = le.AppendUint32(p, uint32(len(h.cpus)))
	for _, c := range h.cpus {
		p = le.AppendUint64(p, c)
	}
	s := testSession()
	p = append(p, s.ID[:]...)
	p = append(p, s.Guest[:]...)
	return le.AppendUint64(p, s.Epoch)
}

func TestCompatible(t *testing.T) {
	base := testFingerprint()
	base.Protocol = ProtocolVersion
	cases := []struct {
		name   string
		change func(*Fingerprint)
		want   string // field and both values
	}{
		{"MIDR", func(f *Fingerprint) { f.MIDR = 0x410fd034 }, "MIDR_EL1: source 0x410fd083, destination 0x410fd034"},
		{"feature value", func(f *Fingerprint) { f.Features["ID_AA64PFR0_EL1"] = 0x11 }, "ID_AA64PFR0_EL1: source 0x1100000011111112, destination 0x11"},
		{"feature absent", func(f *Fingerprint) { delete(f.Features, "ID_AA64ISAR0_EL1") }, "ID_AA64ISAR0_EL1: source 0x11120, destination absent"},
		{"feature extra", func(f *Fingerprint) { f.Features["ID_AA64ISAR1_EL1"] = 0x1 }, "ID_AA64ISAR1_EL1: source absent, destination 0x1"},
		{"RAM", func(f *Fingerprint) { f.RAM = f.RAM[:1] }, "RAM: source [[0x40000000-0x43000000) [0x100000000-0x101003000)], destination [[0x40000000-0x43000000)]"},
		{"RAM size", func(f *Fingerprint) { f.RAM = []phys.Range{{0x4000_0000, 32 << 20}, f.RAM[1]} }, "destination [[0x40000000-0x42000000)"},
		{"devices", func(f *Fingerprint) { f.Devices = []string{"arm,pl011@9000000"} }, `devices: source only ["arm,gic-v3@8000000" "virtio,mmio@a000000"], destination only []`},
		{"page size", func(f *Fingerprint) { f.PageSize = 16384 }, "page size: source 4096, destination 16384"},
		{"protocol", func(f *Fingerprint) { f.Protocol = 7 }, fmt.Sprintf("protocol version: source %d, destination 7", ProtocolVersion)},
		{"CPU count", func(f *Fingerprint) { f.CPUs = f.CPUs[:1] }, "CPUs: source 2 (MPIDR 0x80000000 0x80000001), destination 1 (MPIDR 0x80000000)"},
		{"CPU identity", func(f *Fingerprint) { f.CPUs = []uint64{0x80000000, 0x80000100} }, "destination 2 (MPIDR 0x80000000 0x80000100)"},
		{"CPU order", func(f *Fingerprint) { f.CPUs = []uint64{0x80000001, 0x80000000} }, "destination 2 (MPIDR 0x80000001 0x80000000)"},
	}
	for _, c := range cases {
		dst := base
		dst.Features = maps.Clone(base.Features)
		c.change(&dst)
		err := Compatible(base, dst)
		if !errors.Is(err, ErrIncompatible) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v\nwant it to say %s", c.name, err, c.want)
		}
		var m *Mismatch
		if !errors.As(err, &m) {
			t.Errorf("%s: no *Mismatch in %v", c.name, err)
		}
	}

	// Device order does not matter.
	dst := base
	dst.Devices = []string{"virtio,mmio@a000000", "arm,pl011@9000000", "arm,gic-v3@8000000"}
	if err := Compatible(base, dst); err != nil {
		t.Fatal(err)
	}

	// Every mismatch is named.
	dst = base
	dst.MIDR = 1
	dst.PageSize = 16384
	err := Compatible(base, dst)
	if !strings.Contains(err.Error(), "MIDR_EL1") || !strings.Contains(err.Error(), "page size") {
		t.Fatalf("got %v", err)
	}

	// Both sides on a page size the protocol does not move.
	a, b := base, base
	a.PageSize, b.PageSize = 16384, 16384
	if err := Compatible(a, b); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("16 KiB pages accepted: %v", err)
	}
}
