// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"net/netip"
	"strings"
	"testing"
)

func TestConfigCheck(t *testing.T) {
	if _, _, err := (Config{}).check(); err == nil || !strings.Contains(err.Error(), "ferry.ip=") {
		t.Errorf("empty config: %v", err)
	}
	_, mtu, err := Config{Addr: netip.MustParsePrefix("10.77.0.11/24")}.check()
	if err != nil || mtu != DefaultMTU {
		t.Errorf("default MTU: %d, %v", mtu, err)
	}
	// The rules are boot/config's, for a Config built by hand too.
	for _, c := range []Config{
		{Addr: netip.MustParsePrefix("10.77.0.0/24")},
		{Addr: netip.MustParsePrefix("10.77.0.11/24"), MAC: "01:00:5e:00:00:01"},
		{Addr: netip.MustParsePrefix("10.77.0.11/24"), MTU: 100},
	} {
		if _, _, err := c.check(); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}
