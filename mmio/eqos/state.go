// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package eqos

import "fmt"

// Versions of State a migration carries.
const (
	Version = 1
	Oldest  = 1
)

// State is what a migration carries of the relay: nothing, in this
// version. The destination would need the guest's rings at their
// positions and the device's MAC and MTL set-up, which the guest
// programmed on a page Ferry passes through; none of it moves. A pause
// stops the device (Stop), and the destination forgets its own relay's
// rings (Reset): the guest's driver finds its device dead there and
// resets it (Linux's stmmac does when its transmit watchdog fires).
type State struct{}

// Encode is the state's bytes: none.
func (State) Encode() []byte { return []byte{} }

// Decode reads a state of a version from Oldest to Version.
func Decode(version uint16, b []byte) (State, error) {
	if version < Oldest || version > Version {
		return State{}, fmt.Errorf("eqos: state version %d; this Ferry reads %d to %d", version, Oldest, Version)
	}
	if len(b) != 0 {
		return State{}, fmt.Errorf("eqos: a state of %d bytes; version %d carries none", len(b), version)
	}
	return State{}, nil
}
