// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/ferry-hv/ferry/net/mgmt"
)

type options struct {
	role  string // "server" or "client"
	peer  netip.Addr
	conns int // server: power off after this many connections (0: never)
	mib   int
	idle  time.Duration // poller sleep when idle (0: only yield)
	tcp   mgmt.TCPTuning
}

// parseOptions reads the ferry.nettest words (config.Config.Extra: keys
// "nettest" and "nettest.<option>").
func parseOptions(words map[string]string) (options, error) {
	o := options{mib: 64, tcp: mgmt.DefaultTCP()}
	for key, val := range words {
		if err := o.set(strings.TrimPrefix(key, "nettest"), val); err != nil {
			return o, fmt.Errorf("ferry.%s=%s: %w", key, val, err)
		}
	}
	if o.role == "" {
		return o, fmt.Errorf("no ferry.nettest=server or ferry.nettest=client,<addr> on the command line")
	}
	return o, nil
}

func (o *options) set(key, val string) error {
	var err error
	switch key {
	case "":
		role, arg, _ := strings.Cut(val, ",")
		switch role {
		case "server":
			o.role = role
			if arg != "" {
				o.conns, err = strconv.Atoi(arg)
			}
		case "client":
			o.role = role
			o.peer, err = netip.ParseAddr(arg)
		case "cpu":
			o.role = role
		default:
			err = fmt.Errorf("want server[,N], client,<addr> or cpu")
		}
	case ".mib":
		o.mib, err = strconv.Atoi(val)
	case ".idle":
		o.idle, err = time.ParseDuration(val)
	case ".sndbuf":
		o.tcp.SendBuffer, err = strconv.Atoi(val)
	case ".rcvbuf":
		o.tcp.ReceiveBuffer, err = strconv.Atoi(val)
	case ".sack":
		o.tcp.SACK, err = strconv.ParseBool(val)
	case ".moderate":
		o.tcp.ModerateReceiveBuffer, err = strconv.ParseBool(val)
	case ".trustcsum":
		o.tcp.TrustLinkChecksums, err = strconv.ParseBool(val)
	case ".cc":
		o.tcp.CongestionControl = val
	default:
		err = fmt.Errorf("unknown nettest option")
	}
	return err
}
