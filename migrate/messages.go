// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package migrate

import (
	"fmt"
	"strings"

	"github.com/ferry-hv/ferry/internal/wire"
)

// State is one named, versioned piece of machine state ("cpu", "gic",
// "uart", ...): the bytes its package's Encode produced. This package does
// not look inside.
type State struct {
	Name    string
	Version uint16
	Data    []byte
}

// Encode returns the State record payload: name, version, data.
func (s State) Encode() ([]byte, error) {
	if err := checkName("state", s.Name, MaxStateName); err != nil {
		return nil, err
	}
	if len(s.Data) > MaxStateData {
		return nil, fmt.Errorf("%w: state %q of %d bytes, limit %d", ErrInvalid, s.Name, len(s.Data), MaxStateData)
	}
	var w wire.Writer
	w.Blob([]byte(s.Name))
	w.U16(s.Version)
	w.Blob(s.Data)
	return w.Bytes(), nil
}

// DecodeState decodes a State record payload. Data is a copy.
func DecodeState(p []byte) (State, error) {
	r := wire.NewReader(p)
	s := State{Name: string(r.Blob(MaxStateName))}
	s.Version = r.U16()
	s.Data = r.Blob(MaxStateData)
	if err := r.Done(); err != nil {
		return State{}, fmt.Errorf("state: %w", err)
	}
	if err := checkName("state", s.Name, MaxStateName); err != nil {
		return State{}, fmt.Errorf("state: %w", err)
	}
	return s, nil
}

// reason cuts a reason to MaxReason bytes of valid UTF-8.
func reason(s string) []byte {
	if len(s) > MaxReason {
		s = strings.ToValidUTF8(s[:MaxReason], "")
	}
	return []byte(s)
}

// EncodeHelloReply returns a HelloReply payload: accepted u8, reason.
func EncodeHelloReply(accepted bool, why string) []byte {
	var w wire.Writer
	if accepted {
		w.U8(1)
		why = ""
	} else {
		w.U8(0)
	}
	w.Blob(reason(why))
	return w.Bytes()
}

// DecodeHelloReply decodes a HelloReply payload.
func DecodeHelloReply(p []byte) (accepted bool, why string, err error) {
	r := wire.NewReader(p)
	a := r.U8()
	why = string(r.Blob(MaxReason))
	if err := r.Done(); err != nil {
		return false, "", fmt.Errorf("hello reply: %w", err)
	}
	if a > 1 || a == 1 && why != "" {
		return false, "", fmt.Errorf("hello reply: %w: accepted %d with reason %q", ErrInvalid, a, why)
	}
	return a == 1, why, nil
}

// EncodeAbort returns an Abort payload: the reason.
func EncodeAbort(why string) []byte {
	var w wire.Writer
	w.Blob(reason(why))
	return w.Bytes()
}

// DecodeAbort decodes an Abort payload.
func DecodeAbort(p []byte) (string, error) {
	r := wire.NewReader(p)
	why := string(r.Blob(MaxReason))
	if err := r.Done(); err != nil {
		return "", fmt.Errorf("abort: %w", err)
	}
	return why, nil
}
