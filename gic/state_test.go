// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package gic

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"
)

// busyGuest programs a GIC the way a running guest leaves it: Linux's
// boot writes, then random groups, enables, priorities, configuration,
// routing, pending and active state, through the Guard.
func busyGuest(t *testing.T, spis int, seed uint64) (*Fake, *Guard) {
	t.Helper()
	f, g, guest := setupGuard(t, spis)
	linuxBoot(guest, spis)
	hostile(guest)
	guest.rw(GICR_WAKER, 0) // woken again
	rng := rand.New(rand.NewPCG(seed, 1))
	for w := 1; w <= spis/32; w++ {
		off := uint64(4 * w)
		guest.dw(GICD_IGROUPRn+off, rng.Uint32())
		guest.dw(GICD_ISENABLERn+off, rng.Uint32())
		guest.dw(GICD_ISPENDRn+off, rng.Uint32())
		guest.dw(GICD_ISACTIVERn+off, rng.Uint32())
		guest.dw(GICD_IGRPMODRn+off, rng.Uint32())
	}
	for i := 32; i < 32+spis; i += 4 {
		guest.dw(GICD_IPRIORITYRn+uint64(i), rng.Uint32())
	}
	for i := 32; i < 32+spis; i += 16 {
		guest.dw(GICD_ICFGRn+uint64(i/4), rng.Uint32())
	}
	for i := uint32(32); i < 32+uint32(spis); i++ { // through the Guard for the NIC's, straight to the GIC for the rest
		guest.iw(i, rng.Uint64()&irouterFields)
	}
	for _, off := range []uint64{GICR_IGROUPR0, GICR_ISENABLER0, GICR_ISPENDR0, GICR_ISACTIVER0, GICR_IGRPMODR0, GICR_ICFGR1} {
		guest.sw(sgi(off), rng.Uint32())
	}
	for i := range uint64(8) {
		guest.sw(sgi(GICR_IPRIORITYRn)+4*i, rng.Uint32())
	}
	f.Redist().Write32(GICR_CTLR, GICR_CTLR_DPG1S)
	return f, g
}

// snapshot is every register State covers, read from the hardware.
func snapshot(f *Fake, spis int) map[string]uint64 {
	s := map[string]uint64{}
	d, r := f.Dist(), f.Redist()
	doffs, roffs := pageOffsets()
	for _, off := range doffs {
		s["GICD+"+hex(off)] = uint64(d.Read32(off))
	}
	for _, off := range roffs {
		s["GICR+"+hex(off)] = uint64(r.Read32(off))
	}
	for i := 32; i < 32+spis; i++ {
		s["IROUTER"+hex(uint64(i))] = d.Read64(GICD_IROUTERn + uint64(8*i))
	}
	return s
}

func hex(v uint64) string { return fmt.Sprintf("%#x", v) }

func TestRoundTrip(t *testing.T) {
	for _, spis := range []int{0, 32, 224, 960, MaxSPIs} {
		src, gsrc := busyGuest(t, spis, uint64(spis))
		s, err := gsrc.Capture()
		if err != nil {
			t.Fatal(err)
		}
		b := s.Encode()
		s2, err := Decode(Version, b)
		if err != nil {
			t.Fatalf("%d SPIs: decode: %v", spis, err)
		}
		if !reflect.DeepEqual(s, s2) {
			t.Fatalf("%d SPIs: decode(encode(s)) != s", spis)
		}
		if !bytes.Equal(s2.Encode(), b) {
			t.Fatalf("%d SPIs: encoding not canonical", spis)
		}

		dst, gdst, _ := setupGuard(t, spis)
		if err := gdst.Restore(s2); err != nil {
			t.Fatalf("%d SPIs: restore: %v", spis, err)
		}
		a, z := snapshot(src, spis), snapshot(dst, spis)
		for k, v := range a {
			if z[k] != v {
				t.Errorf("%d SPIs: %s = %#x on the destination, %#x on the source", spis, k, z[k], v)
			}
		}
		// The guest's view (the Guard's shadow) moved too.
		s3, err := gdst.Capture()
		if err != nil || !reflect.DeepEqual(s3, s) {
			t.Errorf("%d SPIs: capture on the destination differs from the source's (%v)", spis, err)
		}
	}
}

// TestRestoreLeavesFerryAlone checks every write Restore makes: none
// touches PPI 26, GICD_CTLR keeps Ferry's Group 1 on, and the order is
// the guest's enables off, configuration, pending/active, enables, control
// registers.
func TestRestoreLeavesFerryAlone(t *testing.T) {
	_, gsrc := busyGuest(t, 224, 7)
	s, err := gsrc.Capture()
	if err != nil {
		t.Fatal(err)
	}
	// The state holds PPI 26 as the guest sees it, not as Ferry set it.
	view := gsrc.SGIPage()
	for _, c := range []struct {
		name      string
		got, want uint64
	}{
		{"group", uint64(s.Redist.Group >> tick & 1), view.Read(sgi(GICR_IGROUPR0), 4) >> tick & 1},
		{"enable", uint64(s.Redist.Enable >> tick & 1), view.Read(sgi(GICR_ISENABLER0), 4) >> tick & 1},
		{"priority", uint64(s.Redist.Priority[tick]), view.Read(sgi(GICR_IPRIORITYRn)+tick, 1)},
		{"config", uint64(s.Redist.Config[1] >> 21 & 1), view.Read(sgi(GICR_ICFGR1), 4) >> 21 & 1},
	} {
		if c.got != c.want {
			t.Errorf("PPI 26 %s: captured %#x, the guest sees %#x", c.name, c.got, c.want)
		}
	}
	dst, gdst, _ := setupGuard(t, 224)
	dst.Writes = nil
	if err := gdst.Restore(s); err != nil {
		t.Fatal(err)
	}
	bit := uint64(1) << tick
	last := map[string]int{}
	for i, w := range dst.Writes {
		last[w.Frame+"+"+hex(w.Off)] = i
		switch {
		case w.Frame == "GICD" && w.Off == GICD_CTLR && w.Val&CTLR_EnableGrp1 == 0:
			t.Errorf("write %d: %v clears EnableGrp1", i, w)
		case w.Frame == "GICR" && w.Off >= GICR_ISENABLER0 && w.Off <= GICR_ICACTIVER0 && w.Val&bit != 0:
			t.Errorf("write %d: %v touches PPI 26", i, w)
		case w.Frame == "GICR" && w.Off == GICR_IGROUPR0 && w.Val != 0xffff_ffff:
			t.Errorf("write %d: %v moves an interrupt to Group 0", i, w)
		case w.Frame == "GICR" && w.Off == GICR_IPRIORITYRn+24 && w.Val>>16&0xff != OwnedPriority:
			t.Errorf("write %d: %v changes PPI 26's priority", i, w)
		case w.Frame == "GICR" && w.Off == GICR_ICFGR1 && w.Val&(3<<20) != 0:
			t.Errorf("write %d: %v changes PPI 26's configuration", i, w)
		case w.Frame == "GICR" && w.Off == GICR_WAKER:
			t.Errorf("write %d: %v: the redistributor's WAKER is Ferry's", i, w)
		}
	}
	first := dst.Writes[0]
	if first.Frame != "GICD" || first.Off != GICD_CTLR || first.Val&CTLR_EnableGrp0 != 0 {
		t.Errorf("first write %v: want GICD_CTLR with Group 0 off (Group 1 is Ferry's too)", first)
	}
	if w := dst.Writes[len(dst.Writes)-1]; w.Frame != "GICD" || w.Off != GICD_CTLR || w.Val&CTLR_EnableGrp1 == 0 {
		t.Errorf("last write %v: want GICD_CTLR with Group 1 on", w)
	}
	before := func(a, b string) {
		if last[a] >= last[b] {
			t.Errorf("%s (write %d) must come before %s (write %d)", a, last[a], b, last[b])
		}
	}
	before("GICD+"+hex(GICD_IGROUPRn+4), "GICD+"+hex(GICD_ISENABLERn+4))
	before("GICD+"+hex(GICD_IPRIORITYRn+32), "GICD+"+hex(GICD_ISENABLERn+4))
	before("GICD+"+hex(GICD_ISACTIVERn+4), "GICD+"+hex(GICD_ISENABLERn+4))
	before("GICR+"+hex(GICR_ISPENDR0), "GICR+"+hex(GICR_ISENABLER0))
	before("GICR+"+hex(GICR_ICFGR1), "GICR+"+hex(GICR_ISENABLER0))
	spi := uint64(1) << (nic % 32)
	for i, w := range dst.Writes {
		switch {
		case w.Frame == "GICD" && w.Off >= GICD_ISENABLERn && w.Off < GICD_IPRIORITYRn && w.Off%0x80 == 4 && w.Val&spi != 0:
			t.Errorf("write %d: %v touches SPI 48's enable, pending or active state", i, w)
		case w.Frame == "GICD" && w.Off == GICD_IGROUPRn+4 && w.Val != 0xffff_ffff:
			t.Errorf("write %d: %v moves an SPI to Group 0", i, w)
		case w.Frame == "GICD" && w.Off == GICD_IGRPMODRn+4 && w.Val&spi != 0:
			t.Errorf("write %d: %v changes SPI 48's group modifier", i, w)
		case w.Frame == "GICD" && w.Off == GICD_IPRIORITYRn+nic && w.Val&0xff != OwnedPriority:
			t.Errorf("write %d: %v changes SPI 48's priority", i, w)
		case w.Frame == "GICD" && w.Off == GICD_ICFGRn+12 && w.Val&3 != 0:
			t.Errorf("write %d: %v changes SPI 48's configuration", i, w)
		case w.Frame == "GICD" && w.Off == routeOff(nic):
			t.Errorf("write %d: %v retargets SPI 48", i, w)
		}
	}
	// The state holds SPI 48 as the guest sees it.
	if got, want := s.Dist.Priority[nic-FirstSPI], uint8(gsrc.DistPage().Read(GICD_IPRIORITYRn+nic, 1)); got != want {
		t.Errorf("SPI 48 priority: captured %#x, the guest sees %#x", got, want)
	}
	// Ferry's PPI 26 on the destination is exactly as SetupOwned left it.
	r := dst.Redist()
	if r.Read32(GICR_IGROUPR0)&(1<<tick) == 0 || r.Read32(GICR_ISENABLER0)&(1<<tick) == 0 ||
		r.Read32(GICR_IPRIORITYRn+24)>>16&0xff != OwnedPriority || r.Read32(GICR_ICFGR1)&(3<<20) != 0 {
		t.Fatal("PPI 26 changed by Restore")
	}
}

func TestCaptureExcludesOwned(t *testing.T) {
	f, _ := busyGuest(t, 64, 3)
	s, err := Capture(f.Dist(), f.Redist(), ferryOn(64))
	if err != nil {
		t.Fatal(err)
	}
	rs := s.Redist
	bit := uint32(1) << tick
	if (rs.Group|rs.Enable|rs.Pending|rs.Active|rs.GrpMod)&bit != 0 || rs.Priority[tick] != 0 || rs.Config[1]&(3<<20) != 0 ||
		s.Dist.CTLR&CTLR_EnableGrp1 != 0 {
		t.Fatalf("Ferry's bits in the captured state: %+v, CTLR %#x", rs, s.Dist.CTLR)
	}
	if rs.Enable&(1<<27) == 0 && rs.Group == 0 {
		t.Fatal("the guest's bits are missing")
	}
	ds, i, spi := s.Dist, nic-FirstSPI, uint32(1)<<(nic%32)
	if (ds.Group[0]|ds.Enable[0]|ds.Pending[0]|ds.Active[0]|ds.GrpMod[0])&spi != 0 || ds.Priority[i] != 0 ||
		ds.Config[i/16]&(3<<(2*(i%16))) != 0 || ds.Route[i] != 0 {
		t.Fatalf("Ferry's SPI 48 in the captured state: %+v", ds)
	}
	if ds.Priority[i+1] == 0 && ds.Route[i+1] == 0 {
		t.Fatal("the guest's SPIs are missing")
	}
}

func TestCaptureRefusesLPIs(t *testing.T) {
	f := NewFake(32)
	f.Redist().Write32(GICR_CTLR, GICR_CTLR_EnableLPIs)
	_, err := Capture(f.Dist(), f.Redist(), ferry)
	if err == nil || !strings.Contains(err.Error(), "EnableLPIs") {
		t.Fatalf("got %v", err)
	}
}

func TestRestoreRefuses(t *testing.T) {
	_, gsrc := busyGuest(t, 224, 9)
	s, err := gsrc.Capture()
	if err != nil {
		t.Fatal(err)
	}
	small := NewFake(192)
	if err := s.Restore(small.Dist(), small.Redist(), ferry); err == nil || !strings.Contains(err.Error(), "Dist.NumSPIs is 224, the destination distributor has 192") {
		t.Errorf("fewer SPIs: %v", err)
	}
	if len(small.Writes) != 0 {
		t.Errorf("a refused restore wrote %v", small.Writes)
	}
	big := NewFake(256)
	if err := s.Restore(secure{big.Dist()}, big.Redist(), ferry); err == nil || !strings.Contains(err.Error(), "Dist.CTLR.DS") {
		t.Errorf("security enabled: %v", err)
	}
	// More SPIs on the destination: the extra ones end up disabled, idle.
	big.Dist().Write32(GICD_ISENABLERn+4*8, ^uint32(0)) // INTIDs 256-287
	big.Dist().Write32(GICD_ISPENDRn+4*8, ^uint32(0))
	if err := s.Restore(big.Dist(), big.Redist(), ferry); err != nil {
		t.Fatal(err)
	}
	if big.Dist().Read32(GICD_ISENABLERn+4*8) != 0 || big.Dist().Read32(GICD_ISPENDRn+4*8) != 0 {
		t.Error("the destination's extra SPIs were left enabled or pending")
	}
}

func validState(t *testing.T) *State {
	t.Helper()
	_, g := busyGuest(t, 64, 11)
	s, err := g.Capture()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestDecodeErrors(t *testing.T) {
	s := validState(t)
	good := s.Encode()
	if _, err := Decode(Version, good); err != nil {
		t.Fatal(err)
	}
	for n := range len(good) {
		if _, err := Decode(Version, good[:n]); err == nil {
			t.Fatalf("truncated to %d of %d bytes: accepted", n, len(good))
		}
	}
	if _, err := Decode(Version, append(bytes.Clone(good), 0)); err == nil || !strings.Contains(err.Error(), "trailing") {
		t.Errorf("trailing byte: %v", err)
	}
	if _, err := Decode(Version, make([]byte, MaxEncodedSize+1)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized: %v", err)
	}
	for _, v := range []uint16{Oldest - 1, Version + 1} {
		if _, err := Decode(v, good); !errors.Is(err, ErrVersion) || !strings.Contains(err.Error(), fmt.Sprintf("version %d;", v)) {
			t.Errorf("version %d: %v", v, err)
		}
	}

	// Field checks: mutate a decoded state, encode, decode.
	cases := []struct {
		name string
		mut  func(s *State)
		want string
	}{
		{"SPIs not a multiple of 32", func(s *State) { s.Dist.NumSPIs = 33 }, "Dist.NumSPIs is 33"},
		{"too many SPIs", func(s *State) { s.Dist.NumSPIs = 1024 }, "Dist.NumSPIs is 1024"},
		{"CTLR", func(s *State) { s.Dist.CTLR |= CTLR_RWP }, "Dist.CTLR"},
		{"bit beyond the SPIs", func(s *State) { s.Dist.NumSPIs = 988; s.Dist.alloc(); s.Dist.Active[30] = 1 << 29 }, "Dist.Active[30]"},
		{"config RES0", func(s *State) { s.Dist.Config[1] = 1 }, "Dist.Config[1]"},
		{"route RES0", func(s *State) { s.Dist.Route[5] = 1 << 40 }, "Dist.Route[5] (INTID 37)"},
		{"LPIs", func(s *State) { s.Redist.CTLR = GICR_CTLR_EnableLPIs }, "Redist.CTLR"},
		{"WAKER", func(s *State) { s.Redist.WAKER = WAKER_ChildrenAsleep }, "Redist.WAKER"},
		{"ICFGR1 RES0", func(s *State) { s.Redist.Config[1] |= 1 }, "Redist.Config"},
	}
	for _, tc := range cases {
		m, err := Decode(Version, good)
		if err != nil {
			t.Fatal(err)
		}
		tc.mut(m)
		b := m.Encode()
		if len(b) > MaxEncodedSize {
			b = b[:MaxEncodedSize]
		}
		if _, err := Decode(Version, b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error naming %q", tc.name, err, tc.want)
		}
	}
}

func TestMaxEncodedSize(t *testing.T) {
	s := &State{Dist: Dist{NumSPIs: MaxSPIs}}
	s.Dist.alloc()
	if n := len(s.Encode()); n > MaxEncodedSize {
		t.Fatalf("988 SPIs encode to %d bytes, over MaxEncodedSize %d", n, MaxEncodedSize)
	} else {
		t.Logf("988 SPIs: %d bytes", n)
	}
}

// v2CPU is version 2's CPU part as the last Ferry to write version 2
// wrote it: zero, NumAP1R 1.
func v2CPU() []byte {
	b := make([]byte, 8+8+1+4*8+8)
	b[16] = 1
	return b
}

// A version 2 state (a Ferry before version 3, whose guest had the virtual
// CPU interface, wrote its CPU part as zero, NumAP1R 1) is read as the
// same state without it; one with a CPU part of the guest's (a Ferry whose
// guest drove the physical CPU interface) is refused by name.
func TestDecodeVersion2(t *testing.T) {
	s := validState(t)
	v2 := append(s.Encode(), v2CPU()...)
	got, err := Decode(2, v2)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, s) {
		t.Error("version 2 decodes to another state")
	}
	if _, err := Decode(Version, v2); err == nil {
		t.Error("a version 2 encoding read as version 3")
	}
	if _, err := Decode(2, s.Encode()); err == nil {
		t.Error("version 2 without its CPU part accepted")
	}
	for _, at := range []int{0, 8, 16, 17, 49} { // IGRPEN1, BPR1, NumAP1R, AP1R0, VMCR
		b := bytes.Clone(v2)
		b[len(s.Encode())+at] ^= 2
		if _, err := Decode(2, b); err == nil || !strings.Contains(err.Error(), "the guest drove the physical CPU interface") {
			t.Errorf("CPU part byte %d changed: %v", at, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, spis := range []uint32{0, 32, 224, MaxSPIs} {
		s := &State{Dist: Dist{NumSPIs: spis, CTLR: CTLR_ARE | CTLR_DS}}
		s.Dist.alloc()
		f.Add(uint16(Version), s.Encode())
		f.Add(uint16(2), append(s.Encode(), v2CPU()...))
	}
	f.Fuzz(func(t *testing.T, version uint16, b []byte) {
		s, err := Decode(version, b)
		if err != nil {
			return
		}
		want := b
		if version == 2 {
			want = b[:len(b)-len(v2CPU())]
		}
		if !bytes.Equal(s.Encode(), want) {
			t.Fatal("accepted input does not re-encode to itself")
		}
		if err := s.Validate(); err != nil {
			t.Fatalf("decoded state fails Validate: %v", err)
		}
	})
}
