// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package config

import (
	"maps"
	"net/netip"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	c, err := Parse("ferry.kernel=0x48200000 ferry.initrd=0x49e00000,0x10615a console=ttyAMA0 -- quiet ferry.notmine=1")
	if err != nil {
		t.Fatal(err)
	}
	if c.Kernel != 0x48200000 || c.InitrdBase != 0x49e00000 || c.InitrdSize != 0x10615a || c.Guest != "console=ttyAMA0 quiet ferry.notmine=1" || len(c.Extra) != 0 {
		t.Fatalf("got %+v", c)
	}
}

// TestChosenInitrd: without a ferry.initrd= word the initramfs the loader
// put in /chosen is the guest's; with one the word wins; a receiving
// board (no kernel) given one is an error, as is an empty range.
func TestChosenInitrd(t *testing.T) {
	c, _ := Parse("ferry.kernel=0x48400000 -- console=ttyAMA0")
	got, from, err := c.WithChosenInitrd(0x48200000, 0x48306f5a)
	if err != nil || got.InitrdBase != 0x48200000 || got.InitrdSize != 0x106f5a || !strings.Contains(from, "/chosen") {
		t.Fatalf("chosen initrd: %+v %q %v", got, from, err)
	}
	if got, from, err := c.WithChosenInitrd(0, 0); err != nil || got.InitrdSize != 0 || from != "none" {
		t.Fatalf("none: %+v %q %v", got, from, err)
	}
	w, _ := Parse("ferry.kernel=0x48400000 ferry.initrd=0x49e00000,0x1234")
	if got, from, err := w.WithChosenInitrd(0x48200000, 0x48306f5a); err != nil || got.InitrdBase != 0x49e00000 || got.InitrdSize != 0x1234 || !strings.Contains(from, "unused") {
		t.Fatalf("word and chosen: %+v %q %v", got, from, err)
	}
	if got, from, err := w.WithChosenInitrd(0, 0); err != nil || got.InitrdBase != 0x49e00000 || from != "ferry.initrd=" {
		t.Fatalf("word only: %+v %q %v", got, from, err)
	}
	r, _ := Parse("ferry.ip=10.77.0.12/24")
	if _, _, err := r.WithChosenInitrd(0x48200000, 0x48306f5a); err == nil || !strings.Contains(err.Error(), "ferry.kernel") {
		t.Fatalf("receive role with an initramfs: %v", err)
	}
	if _, _, err := c.WithChosenInitrd(0x48200000, 0x48200000); err == nil {
		t.Fatal("empty range accepted")
	}
}

func TestParseReceiveRole(t *testing.T) {
	c, err := Parse("ferry.name=b ferry.ip=10.77.0.12/24 ferry.mac=52:54:00:77:00:12 ferry.mtu=9000 ferry.keys=0x47f00000,0x300")
	if err != nil {
		t.Fatal(err)
	}
	if !c.Receive() || c.Name != "b" || c.IP.String() != "10.77.0.12/24" || c.MAC != "52:54:00:77:00:12" || c.MTU != 9000 || c.KeysBase != 0x47f00000 || c.KeysSize != 0x300 {
		t.Fatalf("%+v", c)
	}
}

// Another program's words (ferry-nettest's) are left for it; everything
// else follows Ferry's rules.
func TestParseOwn(t *testing.T) {
	c, err := Parse("ferry.ip=10.77.0.11/24 ferry.nettest=server,2 ferry.nettest.mib=8", "nettest")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]string{"nettest": "server,2", "nettest.mib": "8"}; !maps.Equal(c.Extra, want) || c.IP != netip.MustParsePrefix("10.77.0.11/24") {
		t.Fatalf("%+v", c)
	}
	if _, err := Parse("ferry.nettestx=1", "nettest"); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Errorf("a key that only starts like another program's: %v", err)
	}
	if _, err := Parse("ferry.nettest=server"); err == nil || !strings.Contains(err.Error(), "unknown option") {
		t.Errorf("another program's key, not declared: %v", err)
	}
}

func TestParseRejects(t *testing.T) {
	for in, want := range map[string]string{
		"console=ttyAMA0":                                "without ferry.kernel",
		"ferry.ip=10.0.0.1":                              "want <IPv4 address>/<prefix length>",
		"ferry.ip=fe80::1/64":                            "not an IPv4 address",
		"ferry.ip=10.77.0.11/31":                         "prefix length 31",
		"ferry.ip=10.77.0.0/24":                          "network address",
		"ferry.ip=10.77.0.255/24":                        "broadcast address",
		"ferry.ip=10.77.0.11/24 ferry.ip=10.77.0.12/24":  "ferry.ip= given twice",
		"ferry.mac=52:54:00:77:00":                       "not a 6-byte MAC",
		"ferry.mac=01:00:5e:00:00:01":                    "multicast",
		"ferry.mtu=abc":                                  "ferry.mtu=abc: not a number",
		"ferry.mtu=70000":                                "out of range",
		"ferry.mtu=100":                                  "out of range",
		"ferry.kernel=0x1 ferry.bogus=2":                 "unknown option",
		"ferry.kernel=zz":                                "not a number",
		"ferry.kernel=0x1 ferry.initrd=0x2":              "want <addr>,<size>",
		"ferry.kernel":                                   "want ferry.kernel=<value>",
		"ferry.kernel=0x1 ferry.initrd=0x2,0xq1":         "not a number",
		"ferry.kernel=0x1 ferry.kernel=0x2":              "given twice",
		"ferry.ip=10.77.0.11/24 ferry.mac=52:54:00:77:0": "not a 6-byte MAC",
	} {
		if _, err := Parse(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want one containing %q", in, err, want)
		}
	}
}

// TestParseCPUs: ferry.cpus= takes a count of 1 or more, ferry.selftest=
// only the checks it knows.
func TestParseCPUs(t *testing.T) {
	c, err := Parse("ferry.cpus=2 ferry.selftest=smp ferry.kernel=0x48200000")
	if err != nil || c.CPUs != 2 || c.SelfTest != "smp" {
		t.Fatalf("got %+v, %v", c, err)
	}
	if c, err := Parse("ferry.kernel=0x48200000"); err != nil || c.CPUs != 1 || c.SelfTest != "" {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	if c, err := Parse("ferry.kernel=0x48200000 ferry.cpus=all"); err != nil || c.CPUs != 0 {
		t.Fatalf("all: %+v, %v", c, err)
	}
	for _, w := range []string{"ferry.cpus=0", "ferry.cpus=-1", "ferry.cpus=two", "ferry.selftest=gc"} {
		if _, err := Parse(w + " ferry.kernel=0x48200000"); err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("%s: %v", w, err)
		}
	}
}
