// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtiommio

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio/virtq"
)

var netQueues = []Queue{
	{Num: 256, Desc: 0x4a10_0000, Driver: 0x4a10_1000, Device: 0x4a10_2000, Ready: true, At: virtq.Position{Avail: 3, Used: 65535, InFlight: []uint16{7, 0, 9, 4}}}, // rx
	{Num: 256, Desc: 0x4a20_0000, Driver: 0x4a20_1000, Device: 0x4a20_2000, Ready: true, At: virtq.Position{Avail: 40, Used: 40}},                                   // tx
	{Num: 64, Desc: 0x1_0000_0000, Driver: 0x1_0000_0400, Device: 0x1_0000_0800, Ready: true},                                                                       // ctrl, above 4 GiB
	{Num: 3, Desc: 1}, // a queue not ready may hold anything the driver wrote before
}

func TestStateCodec(t *testing.T) {
	s := &State{DriverFeatures: 1<<32 | 1<<5, Status: StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK, Queues: netQueues}
	b := s.Encode()
	got, err := Decode(Version, b)
	if err != nil || !reflect.DeepEqual(got, s) {
		t.Fatalf("Decode = %+v, %v", got, err)
	}
	for name, tc := range map[string]struct {
		b    []byte
		v    uint16
		want string
	}{
		"newer":     {b, Version + 1, "state version 2"},
		"truncated": {b[:len(b)-1], Version, "decode"},
		"trailing":  {append(bytes.Clone(b), 0), Version, "decode"},
		"too many":  {(&State{Queues: make([]Queue, MaxQueues+1)}).Encode(), Version, "at most 16"},
		"ready 2":   {ready2(), Version, "neither 0 nor 1"},
		"size":      {(&State{Queues: []Queue{{Num: 100, Ready: true}}}).Encode(), Version, "size 100"},
		"align":     {(&State{Queues: []Queue{{Num: 8, Desc: 8, Ready: true}}}).Encode(), Version, "not aligned"},
		"status":    {(&State{Status: 1 << 5}).Encode(), Version, "unknown bits"},
		"held":      {(&State{Queues: []Queue{{Num: 8, Ready: true, At: virtq.Position{Avail: 2, InFlight: []uint16{1}}}}}).Encode(), Version, "holds 1 chains"},
		"twice":     {(&State{Queues: []Queue{{Num: 8, Ready: true, At: virtq.Position{Avail: 2, InFlight: []uint16{1, 1}}}}}).Encode(), Version, "twice"},
		"beyond":    {(&State{Queues: []Queue{{Num: 8, Ready: true, At: virtq.Position{Avail: 1, InFlight: []uint16{8}}}}}).Encode(), Version, "beyond"},
		"more":      {(&State{Queues: []Queue{{Num: 8, Ready: true, At: virtq.Position{Avail: 9, InFlight: make([]uint16, 9)}}}}).Encode(), Version, "9 chains in flight"},
		"not ready": {(&State{Queues: []Queue{{Num: 8, At: virtq.Position{Avail: 1, Used: 1}}}}).Encode(), Version, "not ready but has a position"},
	} {
		if _, err := Decode(tc.v, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add((&State{DriverFeatures: 1 << 32, Status: 15, Queues: netQueues}).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Decode(Version, b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatal("accepted input does not re-encode to itself")
		}
	})
}

// ready2 is a state whose one queue's Ready byte is 2.
func ready2() []byte {
	b := (&State{Queues: []Queue{{Num: 8}}}).Encode()
	b[8+4+4+4+3*8] = 2 // DriverFeatures, Status, count; Num and the areas
	return b
}

var update = flag.Bool("update", false, "write testdata/state-v<Version>.bin from the sample state")

// A state written by each version is read by this one, and the current
// version still writes the sample as its file holds it: a change of the
// encoding without a new Version fails here (the rule of docs/migration.md,
// "Versions").
func TestStateGolden(t *testing.T) {
	sample := &State{DriverFeatures: 1<<32 | 1<<5 | 1<<28, Status: StatusAcknowledge | StatusDriver | StatusFeaturesOK | StatusDriverOK, Queues: netQueues}
	current := filepath.Join("testdata", fmt.Sprintf("state-v%d.bin", Version))
	if *update {
		if err := os.WriteFile(current, sample.Encode(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for v := uint16(Oldest); v <= Version; v++ {
		b, err := os.ReadFile(filepath.Join("testdata", fmt.Sprintf("state-v%d.bin", v)))
		if err != nil {
			t.Fatalf("version %d: %v (go test -run Golden -update writes the current one)", v, err)
		}
		s, err := Decode(v, b)
		if err != nil {
			t.Fatalf("version %d: %v", v, err)
		}
		if v == Version && (!bytes.Equal(sample.Encode(), b) || !reflect.DeepEqual(s, sample)) {
			t.Errorf("version %d: the sample encodes differently from %s: a format change needs a new Version", v, current)
		}
	}
}
