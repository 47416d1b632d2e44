// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

import "testing"

// The relay's state carries nothing: its encoding is empty, and a state
// with bytes, or of a version this Ferry does not read, is refused.
func TestStateDecode(t *testing.T) {
	if b := (State{}).Encode(); len(b) != 0 {
		t.Errorf("encoded as %x", b)
	}
	if _, err := Decode(Version, State{}.Encode()); err != nil {
		t.Error(err)
	}
	for _, c := range []struct {
		v uint16
		b []byte
	}{{Version, []byte{0}}, {Version + 1, nil}, {Oldest - 1, nil}} {
		if _, err := Decode(c.v, c.b); err == nil {
			t.Errorf("version %d, %x: decoded", c.v, c.b)
		}
	}
}
