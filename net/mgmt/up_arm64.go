// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package mgmt

import "github.com/ferry-hv/ferry/net/virtionet"

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
	return New(dev, t, cfg)
}
