// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hostile

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/guest"
)

var update = flag.Bool("update", false, "rewrite testdata/hostile.objdump with aarch64-linux-gnu-objdump")

const golden = "testdata/hostile.objdump"

// objdumpCmd is the disassembler the golden listing comes from (Debian:
// binutils-aarch64-linux-gnu), run on the Image as testdata/hostile.img
// would be.
func objdump(t *testing.T, img []byte) []byte {
	t.Helper()
	tool, err := exec.LookPath("aarch64-linux-gnu-objdump")
	if err != nil {
		if *update {
			t.Fatal("-update needs aarch64-linux-gnu-objdump (apt-get install binutils-aarch64-linux-gnu)")
		}
		t.Skip("no aarch64-linux-gnu-objdump: the words are checked against the listing kept in " + golden)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "hostile.img"), img, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(tool, "-D", "-b", "binary", "-m", "aarch64", "hostile.img")
	cmd.Dir = dir
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestObjdumpNow disassembles the Image as it is built now: the listing
// kept in testdata is its disassembly (go test -update rewrites it).
func TestObjdumpNow(t *testing.T) {
	out := objdump(t, Image())
	if *update {
		if err := os.WriteFile(golden, out, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out, want) {
		t.Fatalf("objdump of the Image differs from %s: the program changed (go test -update)", golden)
	}
}

// listing is objdump's reading: the word and the instruction's text (its
// comment dropped, blanks collapsed) at each offset.
type line struct {
	word uint32
	text string
}

var objdumpLine = regexp.MustCompile(`^\s*([0-9a-f]+):\t([0-9a-f]{8}) \t(.*)$`)

func readListing(t *testing.T) map[int]line {
	t.Helper()
	f, err := os.Open(golden)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[int]line{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		m := objdumpLine.FindStringSubmatch(s.Text())
		if m == nil {
			continue
		}
		at, _ := strconv.ParseUint(m[1], 16, 32)
		w, _ := strconv.ParseUint(m[2], 16, 32)
		text, _, _ := strings.Cut(m[3], "//")
		out[int(at)] = line{uint32(w), strings.Join(strings.Fields(text), " ")}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no instruction lines", golden)
	}
	return out
}

// Every instruction word is what the assembler says it is, as GNU objdump
// read it, and the listing is of this Image.
func TestWordsAsObjdumpReadsThem(t *testing.T) {
	p, err := program()
	if err != nil {
		t.Fatal(err)
	}
	lst := readListing(t)
	for at, l := range lst {
		if at+4 > len(p.image) {
			t.Fatalf("%s has a word at %#x, past the Image's %#x bytes", golden, at, len(p.image))
		}
		if w := binary.LittleEndian.Uint32(p.image[at:]); w != l.word {
			t.Errorf("%#x: the Image has %08x, %s has %08x (go test -update)", at, w, golden, l.word)
		}
	}
	for at, text := range p.text {
		l, ok := lst[at]
		if !ok {
			t.Errorf("%#x: %q is not in %s", at, text, golden)
			continue
		}
		if l.text != text {
			t.Errorf("%#x: %08x is %q to objdump, %q to the assembler", at, l.word, l.text, text)
		}
	}
	if len(p.text) < 150 {
		t.Fatalf("only %d instructions", len(p.text))
	}
}

// The Image is one Ferry's (and QEMU's) loader takes: its header parses,
// code0 branches to the entry right after it, and the vectors are where
// VBAR_EL1 can point.
func TestImageHeader(t *testing.T) {
	p, err := program()
	if err != nil {
		t.Fatal(err)
	}
	h, err := guest.ParseImageHeader(p.image)
	if err != nil {
		t.Fatal(err)
	}
	if h.TextOffset != 0 || h.ImageSize != uint64(len(p.image)) || h.ImageSize%4096 != 0 ||
		h.Flags != guest.FlagPage4K|guest.FlagAnywhere {
		t.Fatalf("header %+v for an Image of %#x bytes", h, len(p.image))
	}
	if h.Code0&0xfc000000 != 0x14000000 || int(h.Code0&0x3ffffff)*4 != p.labels["start"] || p.labels["start"] != guest.ImageHeaderSize {
		t.Fatalf("code0 %08x does not branch to the entry at %#x", h.Code0, p.labels["start"])
	}
	if v := p.labels["vectors"]; v%vectorsAlign != 0 || v+16*vectorEntrySize > len(p.image) {
		t.Fatalf("vectors at %#x", v)
	}
	if !bytes.Equal(Image(), p.image) {
		t.Fatal("Image is not the program")
	}
}

// What makes it hostile: its IRQ vector acknowledges (ICC_IAR1_EL1) and
// returns, and nothing in the program ever ends an interrupt
// (ICC_EOIR1_EL1, ICC_DIR_EL1, or their Group 0 forms); 'a' writes
// ICC_AP1R0_EL1.
func TestNeverEnds(t *testing.T) {
	p, err := program()
	if err != nil {
		t.Fatal(err)
	}
	irq := p.labels["vectors"] + irqCurrentSPx*vectorEntrySize
	for i, want := range []string{"mrs x22, icc_iar1_el1", "add x23, x23, #0x1", "eret"} {
		if got := p.text[irq+4*i]; got != want {
			t.Fatalf("IRQ vector +%d: %q, want %q", 4*i, got, want)
		}
	}
	ending := map[uint32]string{
		0xd518cc20: "ICC_EOIR1_EL1", 0xd518cb20: "ICC_DIR_EL1", 0xd518c820: "ICC_EOIR0_EL1",
	}
	ap1r0 := 0
	for at := range p.text {
		w := binary.LittleEndian.Uint32(p.image[at:])
		if name, ok := ending[w&^31]; ok {
			t.Errorf("%#x: writes %s", at, name)
		}
		if w&^31 == 0xd518c900 {
			ap1r0++
		}
	}
	if ap1r0 != 2 { // 'a' sets it, 'b' clears it
		t.Fatalf("%d writes of ICC_AP1R0_EL1", ap1r0)
	}
}

// The assembler refuses what it cannot encode.
func TestAsmErrors(t *testing.T) {
	a := newAsm()
	a.b("nowhere")
	if _, _, err := a.finish(); err == nil || !strings.Contains(err.Error(), "nowhere") {
		t.Fatalf("branch to no label: %v", err)
	}
	a = newAsm()
	a.label("here")
	a.bytes(make([]byte, 1<<21))
	a.adr(0, "here")
	if _, _, err := a.finish(); err == nil || !strings.Contains(err.Error(), "21 bits") {
		t.Fatalf("adr 2 MiB back: %v", err)
	}
	a = newAsm()
	a.label("x")
	a.label("x")
	if _, _, err := a.finish(); err == nil {
		t.Fatal("a label placed twice was taken")
	}
}
