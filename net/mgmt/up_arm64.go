// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package mgmt

import (
	"time"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/enet"
	"github.com/ferry-hv/ferry/net/virtionet"
	"github.com/ferry-hv/ferry/phys"
)

// Up finds Ferry's NIC among cfg.Transports (virtionet.Find), initialises
// it and builds the stack over it.
func Up(cfg Config) (*Net, error) {
	mac, mtu, err := cfg.check()
	if err != nil {
		return nil, err
	}
	t, err := virtionet.Find(cfg.Transports, mac)
	if err != nil {
		return nil, err
	}
	dev, err := virtionet.Open(t, virtionet.Options{MTU: mtu})
	if err != nil {
		return nil, err
	}
	return New(dev, VirtioNIC(t), cfg)
}

// UpENET brings the management network up on the ENET e (FindENET), its
// rings and buffers in dma, a window of Ferry's carve-out mapped Normal
// Non-cacheable (the board's).
func UpENET(cfg Config, e dtb.Ethernet, dma phys.Range) (*Net, error) {
	opt, err := enetOptions(cfg, e)
	if err != nil {
		return nil, err
	}
	dev, err := enet.OpenAt(e.Reg, dma, opt)
	if err != nil {
		return nil, err
	}
	n, err := New(dev, NICOf(e), cfg)
	if err != nil {
		return nil, err
	}
	n.watch(time.Second)
	return n, nil
}
