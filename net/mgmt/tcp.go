// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package mgmt

import (
	"fmt"

	"gvisor.dev/gvisor/pkg/tcpip"
	"gvisor.dev/gvisor/pkg/tcpip/stack"
	"gvisor.dev/gvisor/pkg/tcpip/transport/tcp"
)

// TCPTuning are the stack-wide TCP options. Buffers are per connection.
type TCPTuning struct {
	SendBuffer    int // default and maximum send buffer, bytes
	ReceiveBuffer int // maximum receive buffer (the default is the stack's), bytes
	// ModerateReceiveBuffer lets the receive buffer grow up to
	// ReceiveBuffer with the measured bandwidth-delay product.
	ModerateReceiveBuffer bool
	SACK                  bool
	CongestionControl     string // "cubic" or "reno"
	// TrustLinkChecksums skips verifying received IP/TCP checksums
	// (link.Endpoint.TrustChecksums).
	TrustLinkChecksums bool
}

// DefaultTCP is the tuning Up uses: large buffers (migration is one bulk
// stream over a link with a short, CPU-bound round trip), SACK, receive
// buffer moderation, checksums verified.
func DefaultTCP() TCPTuning {
	return TCPTuning{
		SendBuffer:            4 << 20,
		ReceiveBuffer:         4 << 20,
		ModerateReceiveBuffer: true,
		SACK:                  true,
		CongestionControl:     "cubic",
	}
}

func (t TCPTuning) apply(s *stack.Stack) error {
	opts := []struct {
		name string
		opt  tcpip.SettableTransportProtocolOption
	}{
		{"SACK", ptr(tcpip.TCPSACKEnabled(t.SACK))},
		{"moderate receive buffer", ptr(tcpip.TCPModerateReceiveBufferOption(t.ModerateReceiveBuffer))},
		{"send buffer", &tcpip.TCPSendBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: t.SendBuffer, Max: t.SendBuffer}},
		{"receive buffer", &tcpip.TCPReceiveBufferSizeRangeOption{Min: tcp.MinBufferSize, Default: min(t.ReceiveBuffer, tcp.DefaultReceiveBufferSize), Max: t.ReceiveBuffer}},
		{"congestion control", ptr(tcpip.CongestionControlOption(t.CongestionControl))},
	}
	for _, o := range opts {
		if err := s.SetTransportProtocolOption(tcp.ProtocolNumber, o.opt); err != nil {
			return fmt.Errorf("mgmt: TCP %s: %v", o.name, err)
		}
	}
	return nil
}

func ptr[T any](v T) *T { return &v }
