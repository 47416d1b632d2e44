// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package regfile

import (
	"errors"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio"
)

type dev struct{ A, B uint32 }

func (d *dev) fields() []Field {
	return []Field{{"A", 0x10, 0xff, &d.A}, {"B", 0x24, 0xffff, &d.B}}
}

func TestRoundTrip(t *testing.T) {
	f := mmio.NewFake(0x100)
	f.Write(0x10, 4, 0x1234) // bits above A's mask read back and are dropped
	f.Write(0x24, 4, 0xbeef)
	var d dev
	Capture(f, d.fields())
	if d != (dev{0x34, 0xbeef}) {
		t.Fatalf("Capture = %+v", d)
	}
	b := Encode(d.fields())
	var e dev
	if err := Decode("dev", b, e.fields()); err != nil || e != d {
		t.Fatalf("Decode = %+v, %v", e, err)
	}
	if err := Decode("dev", b[:7], e.fields()); !errors.Is(err, ErrSize) || !strings.HasPrefix(err.Error(), "dev: ") {
		t.Errorf("short: %v", err)
	}
	bad := dev{A: 0x100}
	if err := Decode("dev", Encode(bad.fields()), e.fields()); err == nil || !strings.Contains(err.Error(), "dev: A is 0x100: bits outside 0xff") {
		t.Errorf("bits outside the mask: %v", err)
	}
	if CheckVersion("dev", 2, 1, 2) != nil || CheckVersion("dev", 3, 1, 2) == nil || CheckVersion("dev", 0, 1, 2) == nil {
		t.Error("CheckVersion")
	}
}
