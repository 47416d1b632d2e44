// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sampleVCPUState is a vCPU about to start, with a record of each kind.
func sampleVCPUState() *vcpuState {
	return &vcpuState{
		Power: VCPUOnPending, Start: CPUStart{Entry: 0x4820_0000, Context: 0x42},
		CPU: record{3, []byte{1, 2, 3}}, Timer: record{1, []byte{4}}, Redist: record{3, nil}, VIF: record{1, []byte{5, 6}},
	}
}

func TestVCPUStateGolden(t *testing.T) {
	file := filepath.Join("testdata", "vcpu-state-v1.bin")
	got := sampleVCPUState().Encode()
	if *update {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("the encoding of version %d changed: bump vcpuStateVersion (and keep reading this one) or run -update", vcpuStateVersion)
	}
	s, err := decodeVCPUState(1, want)
	if err != nil || !bytes.Equal(s.Encode(), want) || s.Start != sampleVCPUState().Start {
		t.Fatalf("decode: %+v, %v", s, err)
	}
}

// TestVCPUStateRefused: what no vCPU can be is refused, with the reason.
func TestVCPUStateRefused(t *testing.T) {
	on := sampleVCPUState()
	on.Power = VCPUOn
	bad := sampleVCPUState().Encode()
	bad[0] = 3
	for _, tc := range []struct {
		name    string
		version uint16
		b       []byte
		want    string
	}{
		{"a version to come", 2, sampleVCPUState().Encode(), "version 2"},
		{"on, with a start", 1, on.Encode(), "a vCPU on with a CPU_ON's start"},
		{"no such power state", 1, bad, "power state 3"},
		{"cut short", 1, sampleVCPUState().Encode()[:30], "vcpu state"},
		{"trailing bytes", 1, append(sampleVCPUState().Encode(), 0), "vcpu state"},
		{"too large", 1, make([]byte, maxVCPUState+1), "limit"},
	} {
		_, err := decodeVCPUState(tc.version, tc.b)
		if err == nil || !errors.Is(err, errVCPUState) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

// FuzzVCPUState: any bytes decode or are refused, never more; what
// decodes encodes back to the same bytes.
func FuzzVCPUState(f *testing.F) {
	f.Add(sampleVCPUState().Encode())
	f.Add((&vcpuState{Power: VCPUOff}).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeVCPUState(vcpuStateVersion, b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.Encode(), b) {
			t.Fatalf("decoded %+v encodes differently", s)
		}
	})
}
