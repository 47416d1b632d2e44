// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package main

import (
	"debug/elf"
	"fmt"
	"os"
	"testing"
	"time"
)

// A dump is read when the plugin has answered the trigger, and what ran
// between two dumps is attributed to the function each block lies in.
func TestInsnProbe(t *testing.T) {
	dir := t.TempDir()
	p, args := newInsnProbe("insns.so", dir, "a", [2]uint64{0x1000, 0x2000})
	if len(args) != 2 || args[1] != fmt.Sprintf("insns.so,trigger=%s,out=%s,lo=1000,hi=2000", p.trigger, p.out) {
		t.Fatalf("QEMU arguments %q", args)
	}
	dumps := []string{
		"# kern 100 user 10 ferry 50\n1000 4 2 1\n1010 3 5 1\n",
		"# kern 300 user 12 ferry 120\n1000 4 7 1\n1010 3 10 1\n1100 2 3 1\n",
	}
	plugin := make(chan error, 1)
	go func() { // the plugin: each trigger answered with the next dump
		for n := 0; n < len(dumps); {
			if _, err := os.Stat(p.trigger); err == nil {
				if err := os.WriteFile(fmt.Sprintf("%s.%d", p.out, n), []byte(dumps[n]), 0o644); err != nil {
					plugin <- err
					return
				}
				os.Remove(p.trigger)
				n++
			}
			time.Sleep(time.Millisecond)
		}
		plugin <- nil
	}()
	a, err := p.dump()
	if err != nil {
		t.Fatal(err)
	}
	b, err := p.dump()
	if err != nil {
		t.Fatal(err)
	}
	if err := <-plugin; err != nil {
		t.Fatal(err)
	}
	p.add(a, b)
	syms := []elf.Symbol{{Name: "f", Value: 0x1000}, {Name: "g", Value: 0x1100}}
	c := p.count(2, syms)
	if c.KernPerMiB != 100 || c.UserPerMiB != 1 || c.FerryPerMiB != 35 {
		t.Errorf("per MiB: kernel %v, user %v, Ferry %v", c.KernPerMiB, c.UserPerMiB, c.FerryPerMiB)
	}
	// f: (7-2)*4 + (10-5)*3 = 35 instructions, entered 5 times; g: 6, 3 times.
	want := []FuncInsns{{"f", 17.5, 7}, {"g", 3, 2}}
	if fmt.Sprint(c.Top) != fmt.Sprint(want) {
		t.Errorf("functions %v, want %v", c.Top, want)
	}
	p.reset()
	if c := p.count(1, syms); c.FerryPerMiB != 0 || len(c.Top) != 0 {
		t.Errorf("after a reset: %+v", c)
	}
}

// A plugin that does not answer is an error, not a hang.
func TestInsnProbeUnanswered(t *testing.T) {
	p, _ := newInsnProbe("insns.so", t.TempDir(), "a", [2]uint64{})
	start := time.Now()
	if _, err := p.dump(); err == nil || time.Since(start) > 10*time.Second {
		t.Fatalf("dump: %v after %v", err, time.Since(start))
	}
}

// A configuration's ratio is the median over rounds of its figure over
// the native board's in the same round and phase.
func TestNetPaired(t *testing.T) {
	var runs []NetRun
	for run, v := range [][2]float64{{10, 6}, {20, 16}, {8, 4}} {
		runs = append(runs, NetRun{Config: netNative, Run: run, Phase: phaseBefore, MiBs: v[0]},
			NetRun{Config: netFerry, Run: run, Phase: phaseBefore, MiBs: v[1]},
			NetRun{Config: netNative, Run: run, Phase: phaseAfter, MiBs: 1})
	}
	runs = append(runs, NetRun{Config: netFerry, Run: 9, Phase: phaseBefore, MiBs: 100}) // no native alongside
	tput := func(r NetRun) float64 { return r.MiBs }
	if got := netPaired(runs, netFerry, phaseBefore, tput); !near(got, 0.6) {
		t.Errorf("paired ratio %v, want 0.6 (of 0.6, 0.8, 0.5)", got)
	}
	if got := netPaired(runs, netAfter, phaseAfter, tput); got != 0 {
		t.Errorf("paired ratio with no runs %v", got)
	}
}
