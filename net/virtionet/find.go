// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"bytes"
	"fmt"
	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/phys"
	"net"

	"github.com/ferry-hv/ferry/boot/dtb"
)

// FindWith returns the transport carrying the network device Ferry takes,
// reading each transport's registers through regs. It reads only the
// identification registers (and, to match mac, the device's configuration
// space), so probing disturbs no device.
//
// Transports are tried from the highest address down: QEMU's virt board
// plugs each -device virtio-net-device into the highest free transport,
// so the first network device on QEMU's command line is found first. With
// mac set, the network device with that MAC address is taken instead.
func FindWith(transports []dtb.VirtioMMIO, regs func(phys.Range) Regs, mac net.HardwareAddr) (dtb.VirtioMMIO, error) {
	var seen []string
	for i := len(transports) - 1; i >= 0; i-- {
		tr := transports[i]
		t := NewTransport(regs(tr.Reg), tr.Reg.Base)
		version, id, ok := t.Probe()
		if !ok || id != DeviceIDNetwork {
			continue
		}
		if mac == nil {
			return tr, nil
		}
		if version != vm.VersionModern {
			seen = append(seen, fmt.Sprintf("%#x (legacy, MAC unread)", tr.Reg.Base))
			continue
		}
		got, err := t.ReadConfig(configOffMAC, macLen)
		if err != nil {
			return dtb.VirtioMMIO{}, err
		}
		if bytes.Equal(got, mac) {
			return tr, nil
		}
		seen = append(seen, fmt.Sprintf("%#x (%v)", tr.Reg.Base, net.HardwareAddr(got)))
	}
	if mac != nil {
		return dtb.VirtioMMIO{}, fmt.Errorf("virtio-net: no network device with MAC %v among %d virtio-mmio transports (network devices: %v)", mac, len(transports), seen)
	}
	return dtb.VirtioMMIO{}, fmt.Errorf("virtio-net: no network device among %d virtio-mmio transports (QEMU: -device virtio-net-device,netdev=...)", len(transports))
}

// Found is a virtio device found behind a transport.
type Found struct {
	dtb.VirtioMMIO
	Version  uint32 // the transport's register layout (vm.VersionModern, vm.VersionLegacy)
	DeviceID uint32 // virtio 1.2, 5 "Device Types"; DeviceIDNetwork for a NIC
}

// ModernNetwork reports whether it is a virtio-net on a virtio 1.x
// transport: the one kind of device the guest's model relays.
func (d Found) ModernNetwork() bool {
	return d.DeviceID == DeviceIDNetwork && d.Version == vm.VersionModern
}

// DevicesWith returns every transport that carries a device, in address
// order, reading only their identification registers through regs:
// Ferry's own NIC among them, and the guest's devices.
func DevicesWith(transports []dtb.VirtioMMIO, regs func(phys.Range) Regs) []Found {
	var out []Found
	for _, tr := range transports {
		if v, id, ok := NewTransport(regs(tr.Reg), tr.Reg.Base).Probe(); ok && id != 0 {
			out = append(out, Found{tr, v, id})
		}
	}
	return out
}
