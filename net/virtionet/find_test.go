// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"fmt"
	"github.com/ferry-hv/ferry/phys"
	"net"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/boot/dtb"
	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

// board models QEMU virt's 32 virtio-mmio transports with devices plugged
// into some of them.
func board(devs map[int]fakedev.Options) ([]dtb.VirtioMMIO, func(phys.Range) Regs) {
	var ts []dtb.VirtioMMIO
	regs := map[uint64]Regs{}
	for i := 0; i < 32; i++ {
		base := uint64(0x0a000000 + i*0x200)
		ts = append(ts, dtb.VirtioMMIO{Path: fmt.Sprintf("/virtio_mmio@%x", base), Reg: phys.Range{Base: base, Size: 0x200}, SPI: uint32(16 + i)})
		o, ok := devs[i]
		if !ok {
			o = fakedev.Options{NoDevice: true}
		}
		regs[base] = fakedev.New(fakedev.NewMemory(), o)
	}
	return ts, func(r phys.Range) Regs { return regs[r.Base] }
}

func TestFind(t *testing.T) {
	mac := func(b byte) [6]byte { return [6]byte{0x52, 0x54, 0, 0x77, 0, b} }
	blk := fakedev.Options{DeviceID: 2}
	ts, regs := board(map[int]fakedev.Options{
		31: {MAC: mac(0x11)}, // QEMU: first -device virtio-net-device
		30: blk,
		29: {MAC: mac(0x21)}, // a second NIC, e.g. the guest's
		28: {MAC: mac(0x31), Version: 1},
	})
	got, err := FindWith(ts, regs, nil)
	if err != nil || got.Reg.Base != 0x0a003e00 || got.Path != "/virtio_mmio@a003e00" {
		t.Errorf("first NIC: %+v, %v; want the highest transport 0xa003e00", got, err)
	}
	got, err = FindWith(ts, regs, net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x21})
	if err != nil || got.Reg.Base != 0x0a003a00 {
		t.Errorf("by MAC: %+v, %v; want 0xa003a00", got, err)
	}
	_, err = FindWith(ts, regs, net.HardwareAddr{0x52, 0x54, 0, 0x77, 0, 0x99})
	if err == nil || !strings.Contains(err.Error(), "52:54:00:77:00:99") || !strings.Contains(err.Error(), "0xa003e00 (52:54:00:77:00:11)") {
		t.Errorf("unknown MAC: %v", err)
	}
	ts, regs = board(map[int]fakedev.Options{30: blk})
	if _, err := FindWith(ts, regs, nil); err == nil || !strings.Contains(err.Error(), "no network device among 32") {
		t.Errorf("no NIC: %v", err)
	}
}

func TestDevices(t *testing.T) {
	ts, regs := board(map[int]fakedev.Options{31: {}, 30: {DeviceID: 2}, 29: {}, 3: {Version: 1}})
	var got []string
	for _, d := range DevicesWith(ts, regs) {
		got = append(got, fmt.Sprintf("%s id %d v%d modern-net %v", d.Path, d.DeviceID, d.Version, d.ModernNetwork()))
	}
	want := []string{
		"/virtio_mmio@a000600 id 1 v1 modern-net false",
		"/virtio_mmio@a003a00 id 1 v2 modern-net true",
		"/virtio_mmio@a003c00 id 2 v2 modern-net false",
		"/virtio_mmio@a003e00 id 1 v2 modern-net true",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("DevicesWith =\n%s\nwant\n%s (every device, in address order)", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
