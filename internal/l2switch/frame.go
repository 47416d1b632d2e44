// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package l2switch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Frame limits.
const (
	// HeaderLen is the size of the length prefix in front of every frame.
	HeaderLen = 4

	// MaxFrame is the largest frame accepted: QEMU's NET_BUFSIZE (4096 +
	// 65536), the buffer its socket/stream netdev reassembles a frame in.
	// It holds a 65535-byte IP packet plus an Ethernet (or VLAN) header.
	MaxFrame = 4096 + 65536

	// MinFrame is the shortest frame forwarded: an Ethernet header
	// (destination, source, EtherType).
	MinFrame = 14
)

// ErrFrameTooLong is wrapped by ReadFrame when a length prefix is over the
// cap. The stream cannot be resynchronised after it, so the port is closed.
var ErrFrameTooLong = errors.New("frame length over the cap")

// ReadFrame reads one length-prefixed frame from r into buf (grown if it is
// too small) and returns the frame. A length over maxLen returns an error
// wrapping ErrFrameTooLong without reading the body. io.EOF is returned only
// at a clean frame boundary; a stream cut inside a frame is
// io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, buf []byte, maxLen int) ([]byte, error) {
	var hdr [HeaderLen]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if uint64(n) > uint64(maxLen) {
		return nil, fmt.Errorf("%w: length prefix %d > %d", ErrFrameTooLong, n, maxLen)
	}
	if cap(buf) < int(n) {
		buf = make([]byte, n)
	}
	buf = buf[:n]
	if _, err := io.ReadFull(r, buf); err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("reading a %d-byte frame: %w", n, err)
	}
	return buf, nil
}

// AppendFrame appends frame with its length prefix to dst.
func AppendFrame(dst, frame []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(frame)))
	return append(dst, frame...)
}

// WriteFrame writes frame with its length prefix to w in one Write call.
func WriteFrame(w io.Writer, frame []byte) error {
	_, err := w.Write(AppendFrame(make([]byte, 0, HeaderLen+len(frame)), frame))
	return err
}

// MAC is an Ethernet address.
type MAC [6]byte

func (m MAC) String() string {
	return fmt.Sprintf("%02x:%02x:%02x:%02x:%02x:%02x", m[0], m[1], m[2], m[3], m[4], m[5])
}

// Group reports whether m is a broadcast or multicast address (the I/G bit).
func (m MAC) Group() bool { return m[0]&1 != 0 }

// Dst and Src return the destination and source addresses of an Ethernet
// frame of at least MinFrame bytes.
func Dst(frame []byte) MAC { return MAC(frame[0:6]) }
func Src(frame []byte) MAC { return MAC(frame[6:12]) }
