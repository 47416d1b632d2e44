// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package regfile is the migratable state of a device whose configuration
// is a handful of 32-bit registers that read back what was written (the
// console UARTs): read from the device at the pause, carried as u32s in a
// fixed order, checked against each register's defined bits, and written
// back by the device's own package in the order its manual requires.
package regfile

import (
	"errors"
	"fmt"

	"github.com/ferry-hv/ferry/internal/wire"
	"github.com/ferry-hv/ferry/mmio"
)

// Field is one register of a device's state: its name (for errors), its
// offset, the bits it defines, and where its value is kept.
type Field struct {
	Name string
	Off  uint64
	Mask uint32
	P    *uint32
}

// ErrSize is Decode's error for a payload of the wrong size.
var ErrSize = errors.New("bad state size")

// Capture reads every field from dev, keeping its defined bits.
func Capture(dev mmio.Device, fs []Field) {
	for _, f := range fs {
		*f.P = uint32(dev.Read(f.Off, 4)) & f.Mask
	}
}

// Encode returns the fields' values in order, u32 little-endian (package
// wire).
func Encode(fs []Field) []byte {
	var w wire.Writer
	for _, f := range fs {
		w.U32(*f.P)
	}
	return w.Bytes()
}

// Decode reads b, as Encode writes it, into the fields and validates them;
// what names the device (e.g. "pl011") opens its errors.
func Decode(what string, b []byte, fs []Field) error {
	if len(b) != 4*len(fs) {
		return fmt.Errorf("%s: %w: %d bytes, want %d", what, ErrSize, len(b), 4*len(fs))
	}
	r := wire.NewReader(b)
	for _, f := range fs {
		*f.P = r.U32()
	}
	if err := r.Done(); err != nil {
		return fmt.Errorf("%s: decode: %w", what, err)
	}
	return Validate(what, fs)
}

// Validate checks that no field has bits outside its defined ones.
func Validate(what string, fs []Field) error {
	for _, f := range fs {
		if *f.P&^f.Mask != 0 {
			return fmt.Errorf("%s: %s is %#x: bits outside %#x", what, f.Name, *f.P, f.Mask)
		}
	}
	return nil
}

// CheckVersion accepts a state version from oldest to version.
func CheckVersion(what string, v, oldest, version uint16) error {
	if v < oldest || v > version {
		return fmt.Errorf("%s: state version %d; this Ferry reads %d to %d", what, v, oldest, version)
	}
	return nil
}
