// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmu"
)

// stage2Pages is what the tests give a small machine (QEMU's) for its
// stage-2 tables: more than it needs (Stage2Pages).
const stage2Pages = 2048

// trackAll builds d's stage-2 tables in an arena of pages table pages and
// write-protects all of guest RAM, as dirty tracking does.
func trackAll(d *Description, pages int) error {
	a, err := mmu.NewArena(make([]byte, pages*mmu.PageSize), 0x1000_0000_0000)
	if err != nil {
		return err
	}
	s, err := mmu.NewStage2(a, ipaBits)
	if err != nil {
		return err
	}
	if err := d.MapStage2(s); err != nil {
		return err
	}
	for _, r := range d.RAM {
		if _, _, err := s.TrackWrites(r.Base, r.Size); err != nil {
			return err
		}
	}
	return nil
}

// exactArena checks that d's stage 2, with all of guest RAM tracked, fits
// in Stage2Pages and not in a page fewer.
func exactArena(t *testing.T, name string, d *Description) {
	t.Helper()
	n := d.Stage2Pages()
	if err := trackAll(d, n); err != nil {
		t.Errorf("%s: %d table pages: %v", name, n, err)
	}
	if err := trackAll(d, n-1); !errors.Is(err, mmu.ErrExhausted) {
		t.Errorf("%s: %d table pages, one fewer than Stage2Pages: %v, want the arena exhausted", name, n-1, err)
	}
}

// The stage-2 arena's size is exactly what the QEMU boards' machines take
// with all of guest RAM tracked, with and without Ferry's NIC.
func TestStage2PagesQEMU(t *testing.T) {
	for _, file := range []string{"virt-gicv3-1g.dtb", "virt-gicv3-512m.dtb", "virt-gicv3-1g-2nic.dtb"} {
		for _, nic := range []string{"", qemuMgmtNIC} {
			b, _ := qemuBoard(t, file)
			d, err := Describe(b, Options{GuestBase: qemuGuestBase, MgmtNIC: nic, TickINTID: qemuTick, MaintINTID: qemuMaint, Route: qemuRoute})
			if err != nil {
				t.Fatal(err)
			}
			exactArena(t, file+nic, d)
		}
	}
}

// And on every board the survey plans (TestDescribeEveryBoard; skipped
// without the DTBs), whatever its RAM and devices.
func TestStage2PagesEveryBoard(t *testing.T) {
	dir := boardDTBs()
	if dir == "" {
		t.Skip("no board DTBs (scripts/dtbs.sh, or FERRY_DTBS)")
	}
	planned := 0
	err := filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
		if err != nil || !strings.HasSuffix(path, ".dtb") {
			return err
		}
		blob, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		s, d, _ := surveyBoard(t, blob)
		if s.planned {
			planned++
			exactArena(t, path, d)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d planned boards", planned)
}
