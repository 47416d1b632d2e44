// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package dtb

import (
	"bytes"
	"encoding/binary"
	"github.com/ferry-hv/ferry/phys"
	"os"
	"strings"
	"testing"

	"github.com/u-root/u-root/pkg/dt"
)

// FuzzParse feeds arbitrary blobs to Parse and, when they parse, to Apply,
// and checks the invariants of the results. Set FERRY_DTB_FUZZ_STRICT=1 to
// also fail when a panic inside u-root's dt had to be recovered.
//
//	go test ./boot/dtb/ -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	for _, name := range testDTBs {
		raw := readDTB(f, name)
		f.Add(raw)
		// The QEMU blobs have totalsize 1 MiB, mostly free space; a compact
		// copy makes mutation cheaper.
		compact := mutate(f, raw, func(*dt.FDT) {})
		f.Add(compact)
		for _, n := range []int{0, 3, 39, 40, 41, 64, 100, 1000, len(compact) / 2, len(compact) - 1} {
			f.Add(compact[:n])
		}
		// totalsize over len(blob)
		f.Add(raw[:len(compact)])
		// header variants
		for _, off := range []int{4, 8, 12, 16, 32, 36} {
			b := bytes.Clone(compact)
			binary.BigEndian.PutUint32(b[off:], binary.BigEndian.Uint32(b[off:])+4)
			f.Add(b)
		}
	}
	f.Add(raw1(f))
	strict := os.Getenv("FERRY_DTB_FUZZ_STRICT") != ""

	f.Fuzz(func(t *testing.T, blob []byte) {
		in := bytes.Clone(blob)
		b, err := Parse(blob)
		if err != nil {
			if b != nil {
				t.Fatal("Board with error")
			}
			if !strings.HasPrefix(err.Error(), "dtb: ") {
				t.Fatalf("error %q lacks the dtb: prefix", err)
			}
			if strict && strings.Contains(err.Error(), "panic") {
				t.Fatal(err)
			}
		} else {
			checkBoard(t, b)
		}
		out, err := Apply(blob, Patch{
			Memory:   []phys.Range{{0x40000000, 0x1000}},
			Bootargs: "console=ttyAMA0",
			RNGSeed:  []byte("0123456789abcdef"),
			Reserve:  []phys.Range{{0x40000000, 0x1000}},
		})
		if !bytes.Equal(blob, in) {
			t.Fatal("input modified")
		}
		if err != nil {
			if out != nil {
				t.Fatal("blob with error")
			}
			if strict && strings.Contains(err.Error(), "panic") {
				t.Fatal(err)
			}
			return
		}
		if _, err := precheck(out); err != nil {
			t.Fatalf("Apply output fails precheck: %v", err)
		}
		if b != nil {
			b2, err := Parse(out)
			if err != nil {
				t.Fatalf("Apply output does not Parse: %v", err)
			}
			if b2.Bootargs != "console=ttyAMA0" || len(b2.Memory) != 1 || b2.Memory[0] != (phys.Range{0x40000000, 0x1000}) {
				t.Fatalf("patch not applied: %+v", b2)
			}
		}
	})
}

// raw1 is a minimal valid FDT with an empty root.
func raw1(tb testing.TB) []byte {
	var buf bytes.Buffer
	f := &dt.FDT{Header: dt.Header{Magic: dt.Magic, Version: 17, LastCompVersion: 16}, RootNode: dt.NewNode("")}
	if _, err := f.Write(&buf); err != nil {
		tb.Fatal(err)
	}
	return buf.Bytes()
}

func checkBoard(t *testing.T, b *Board) {
	if len(b.Memory) == 0 {
		t.Fatal("no memory")
	}
	for i, m := range b.Memory {
		if m.Size == 0 || m.End() < m.Base || (i > 0 && m.Base < b.Memory[i-1].Base) {
			t.Fatalf("bad Memory %v", b.Memory)
		}
	}
	for _, d := range b.Devices {
		for _, r := range d.Regs {
			if r.Size == 0 || r.End() < r.Base {
				t.Fatalf("device %s: bad range %v", d.Path, r)
			}
		}
	}
	for i := 1; i < len(b.Virtio); i++ {
		if b.Virtio[i].Reg.Base < b.Virtio[i-1].Reg.Base {
			t.Fatalf("Virtio not sorted")
		}
	}
}
