// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/mmu"
	"github.com/ferry-hv/ferry/phys"
)

// The survey's stand-ins for what a board package gives Describe: a
// 128 MiB carve-out at the bottom of RAM (as boot/virt and boot/imx8mp
// have it), the EL2 physical timer's PPI 10 and the GIC's maintenance
// interrupt, PPI 9, the interrupts the Arm Base System Architecture (DEN
// 0094, "PPI assignments") gives them.
const (
	surveyCarveOut = 128 << 20
	surveyTick     = 26
	surveyMaint    = 25
)

// boardDTBs is the directory of Debian's kernel's board DTBs: $FERRY_DTBS
// (make unit sets it), else the tree scripts/dtbs.sh last fetched into
// the user's cache, else "".
func boardDTBs() string {
	if d := os.Getenv("FERRY_DTBS"); d != "" {
		return d
	}
	c, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	kabi, err := os.ReadFile(filepath.Join(c, "ferry", "dtbs", "selected"))
	if err != nil {
		return ""
	}
	d := filepath.Join(c, "ferry", "dtbs", strings.TrimSpace(string(kabi)))
	if _, err := os.Stat(filepath.Join(d, ".complete")); err != nil {
		return ""
	}
	return d
}

// refusals are the reasons a board may be refused, each the pattern its
// error must match: an error matching none fails the survey.
var refusals = []struct{ reason, pattern string }{
	{"GICv2", `is a GICv2 \([^)]+\), Ferry needs a GICv3`},
	{"another interrupt controller", `\) is not a GICv3 \("arm,gic-v3"\), which Ferry needs`},
	{"no console (no /chosen)", `no /chosen node \(need stdout-path for the console\)`},
	{"no console (no stdout-path)", `/chosen has no stdout-path`},
	{"no console (stdout-path names nothing)", `/chosen/stdout-path "[^"]*" names no (node|alias)`},
	{"console not a supported UART", `console \S+ \([^)]*\) is not a UART Ferry supports`},
	{"RAM: none above Ferry's carve-out", `the board's RAM .* leaves nothing above Ferry's carve-out`},
}

// gicReason reports whether a refusal is for the interrupt controller.
func gicReason(reason string) bool {
	return reason == refusals[0].reason || reason == refusals[1].reason
}

// survey is what became of one board.
type survey struct {
	planned  bool
	firmware bool   // planned with RAM filled in as firmware would
	reason   string // refused: which of refusals
	err      error
}

// noRAM matches the errors of a DTB whose RAM the firmware fills in at
// boot (an empty or missing memory node).
var noRAM = regexp.MustCompile(`no memory node|memory node \S+ has no usable reg`)

// surveyBoard describes one board. RAM missing from the DTB (U-Boot fills
// in /memory at boot) is filled in as firmware would: 1 GiB at the lowest
// GiB-aligned address that holds no device.
func surveyBoard(t *testing.T, blob []byte) (s survey, d *Description, guest []byte) {
	b, err := dtb.Parse(blob)
	if err != nil && noRAM.MatchString(err.Error()) {
		// Where the devices are: parse once with a placeholder page.
		var p []byte
		if p, err = dtb.Apply(blob, dtb.Patch{Memory: []phys.Range{{Base: 0, Size: mmu.PageSize}}}); err == nil {
			if b, err = dtb.Parse(p); err == nil {
				ram := freeGiB(b.MMIO())
				if blob, err = dtb.Apply(blob, dtb.Patch{Memory: []phys.Range{ram}}); err == nil {
					b, err = dtb.Parse(blob)
					s.firmware = true
				}
			}
		}
	}
	if err == nil {
		d, err = Describe(b, Options{GuestBase: b.Memory[0].Base + surveyCarveOut, TickINTID: surveyTick, MaintINTID: surveyMaint})
	}
	if err != nil {
		s.err = err
		for _, r := range refusals {
			if regexp.MustCompile(r.pattern).MatchString(err.Error()) {
				s.reason = r.reason
				break
			}
		}
		return s, nil, nil
	}
	s.planned = true
	return s, d, blob
}

// freeGiB is 1 GiB at the lowest GiB-aligned address no device uses.
func freeGiB(mmio []phys.Range) phys.Range {
	for a := uint64(0); ; a += 1 << 30 {
		r := phys.Range{Base: a, Size: 1 << 30}
		if !slices.ContainsFunc(mmio, r.Overlaps) {
			return r
		}
	}
}

// TestDescribeEveryBoard runs dtb.Parse and Describe over every board DTB
// of Debian's generic arm64 kernel (scripts/dtbs.sh): none may panic,
// every board with a GICv3 and a console Ferry supports gets a machine
// whose stage-2 map and guest DTB hold, and every other board is refused
// with an error naming what it lacks. The counts go to the log
// (docs/boards.md has them).
func TestDescribeEveryBoard(t *testing.T) {
	dir := boardDTBs()
	if dir == "" {
		t.Skip("no board DTBs: fetch them with `bash scripts/dtbs.sh` (make unit does) or point FERRY_DTBS at a directory of .dtb files")
	}
	var files []string
	err := filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && strings.HasSuffix(p, ".dtb") {
			files = append(files, p)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no .dtb files under %s", dir)
	}
	planned, firmware := 0, 0
	refused := map[string]int{}
	for _, f := range files {
		name, _ := filepath.Rel(dir, f)
		blob, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var s survey
		var d *Description
		var guest []byte
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Errorf("%s: panic: %v", name, r)
				}
			}()
			s, d, guest = surveyBoard(t, blob)
		}()
		gicv3 := bytes.Contains(blob, []byte("arm,gic-v3\x00"))
		switch {
		case s.planned:
			planned++
			if s.firmware {
				firmware++
			}
			if err := checkPlan(t, d, guest); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case s.reason == "":
			t.Errorf("%s: refused for a reason the survey does not know: %v", name, s.err)
		case gicv3 && gicReason(s.reason):
			t.Errorf("%s: has a GICv3 but was refused: %v", name, s.err)
		case !gicv3 && !gicReason(s.reason):
			t.Errorf("%s: has no GICv3 but was refused for something else: %v", name, s.err)
		default:
			refused[s.reason]++
		}
		if s.err != nil && testing.Verbose() {
			t.Logf("%s: %s: %v", name, s.reason, s.err)
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%d board DTBs under %s: %d planned (%d with RAM filled in as firmware would), %d refused:\n",
		len(files), dir, planned, firmware, len(files)-planned)
	for _, r := range refusals {
		if n := refused[r.reason]; n > 0 {
			fmt.Fprintf(&b, "  %4d %s\n", n, r.reason)
		}
	}
	t.Log(b.String())
	if planned == 0 {
		t.Error("no board planned")
	}
}

// checkPlan checks a board's machine as TestDescribeQEMU does the QEMU
// board's: the carve-out and the trapped GIC pages unmapped, RAM mapped
// as RAM, every passed-through device page as Device memory; and the
// patched guest DTB parses and has the guest's RAM and none of the hidden
// devices.
func checkPlan(t *testing.T, d *Description, blob []byte) error {
	b, err := dtb.Parse(blob)
	if err != nil {
		return err
	}
	a, err := mmu.NewArena(make([]byte, d.Stage2Pages()*mmu.PageSize), 0x1000_0000_0000)
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
	mapped := func(ipa uint64) (mmu.S2Attr, bool) {
		pa, attr, _, _, ok := s.Lookup(ipa)
		return attr, ok && pa == ipa
	}
	carve := d.RAM[0].Base - 1
	if _, ok := mapped(carve); ok {
		return fmt.Errorf("the carve-out's last page %#x is mapped", carve)
	}
	for _, r := range d.RAM {
		for _, ipa := range []uint64{r.Base, r.End() - 1} {
			if attr, ok := mapped(ipa); !ok || attr != mmu.S2Normal {
				return fmt.Errorf("RAM at %#x: mapped %v as %v", ipa, ok, attr)
			}
		}
	}
	for _, p := range d.Ports {
		if _, ok := mapped(p.Base); ok {
			return fmt.Errorf("trapped page %v (%v) is mapped", p.Range, p.Model)
		}
	}
	for _, r := range b.NoMap { // firmware's no-map memory is not the guest's
		for _, ipa := range []uint64{r.Base, r.End() - 1} {
			if _, ok := mapped(ipa); ok {
				return fmt.Errorf("no-map reservation %v is mapped at %#x", r, ipa)
			}
		}
	}
	if len(d.Ports) < 3 {
		return fmt.Errorf("%d trapped pages, want the GIC's three at least", len(d.Ports))
	}
	if attr, ok := mapped(d.UART.Base); !ok || attr != mmu.S2Device {
		return fmt.Errorf("console %v: mapped %v as %v, want passed through", d.UART, ok, attr)
	}
	out, err := dtb.Apply(blob, d.Patch)
	if err != nil {
		return err
	}
	g, err := dtb.Parse(out)
	if err != nil {
		return fmt.Errorf("the guest's DTB: %w", err)
	}
	if !slices.Equal(g.Memory, d.RAM) {
		return fmt.Errorf("the guest's DTB has RAM %v, want %v", g.Memory, d.RAM)
	}
	for _, dev := range g.Devices {
		if slices.Contains(d.Patch.RemoveNodes, dev.Path) {
			return errors.New("the guest's DTB still has " + dev.Path)
		}
	}
	return nil
}
