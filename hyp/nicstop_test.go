// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package hyp

import (
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/mmio/virtiommio"
	"github.com/ferry-hv/ferry/mmio/virtq"
	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

// busMem is fakedev's memory by physical address.
type busMem struct{ m *fakedev.Memory }

func (b busMem) Slice(addr uint64, n int) ([]byte, error) {
	if s := b.m.At(addr, n); s != nil {
		return s, nil
	}
	return nil, fmt.Errorf("no memory at %#x+%d", addr, n)
}

// A guest NIC whose device holds a request it never carries out (a
// receive chain with a device-readable buffer, completed only by a frame
// that never comes): the pause fails and says what the operator can do;
// with the operator's NIC reset (guestNICStop.reset, from ferryctl migrate
// -reset-nic) it succeeds, the request given back to the guest.
func TestNICComponentReset(t *testing.T) {
	m := fakedev.NewMemory()
	const ramSize = 1 << 20
	_, base, _ := m.Alloc(ramSize, 4096)
	dev := fakedev.New(m, fakedev.Options{})
	tr := virtiommio.New(fakedev.MMIO{D: dev}, virtiommio.Shadowing{
		Guest: busMem{m},
		InRAM: func(a, n uint64) bool { return a >= base && a+n >= a && a+n <= base+ramSize },
		Alloc: func(n uint64) (virtq.Mem, uint64, error) {
			_, pa, err := m.Alloc(int(n), 4096)
			return busMem{m}, pa, err
		},
	})
	w := func(off uint64, v uint64) { tr.Write(off, 4, v) }
	w(virtiommio.RegStatus, virtiommio.StatusAcknowledge|virtiommio.StatusDriver)
	w(virtiommio.RegDriverFeaturesSel, 1)
	w(virtiommio.RegDriverFeatures, 1)
	w(virtiommio.RegStatus, virtiommio.StatusAcknowledge|virtiommio.StatusDriver|virtiommio.StatusFeaturesOK)
	desc, avail, used := base, base+0x100, base+0x1000
	w(virtiommio.RegQueueSel, 0)
	w(virtiommio.RegQueueNum, 16)
	tr.Write(virtiommio.RegQueueDescLow, 8, desc)
	tr.Write(virtiommio.RegQueueDriverLow, 8, avail)
	tr.Write(virtiommio.RegQueueDeviceLow, 8, used)
	w(virtiommio.RegQueueReady, 1)
	w(virtiommio.RegStatus, virtiommio.StatusAcknowledge|virtiommio.StatusDriver|virtiommio.StatusFeaturesOK|virtiommio.StatusDriverOK)
	d := m.At(desc, 32)
	binary.LittleEndian.PutUint64(d, base+0x2000)
	binary.LittleEndian.PutUint32(d[8:], 12)
	binary.LittleEndian.PutUint16(d[12:], virtq.DescNext) // device-readable
	binary.LittleEndian.PutUint16(d[14:], 1)
	binary.LittleEndian.PutUint64(d[16:], base+0x3000)
	binary.LittleEndian.PutUint32(d[24:], 0x800)
	binary.LittleEndian.PutUint16(d[28:], virtq.DescWrite)
	binary.LittleEndian.PutUint16(m.At(avail+2, 2), 1) // head 0 available
	w(virtiommio.RegQueueNotify, 0)

	stop := &guestNICStop{}
	c := guestNICComponent(0xa003c00, tr, stop)
	if _, err := c.Capture(); err == nil || !strings.Contains(err.Error(), "ferryctl migrate -reset-nic") || !strings.Contains(err.Error(), "queue 0: the device holds a request (the chain at 0)") {
		t.Fatalf("Capture = %v", err)
	}
	stop.reset = true
	b, err := c.Capture()
	if err != nil {
		t.Fatalf("Capture with the NIC reset: %v", err)
	}
	s, err := virtiommio.Decode(virtiommio.Version, b)
	if err != nil || len(s.Queues) != 1 || fmt.Sprint(s.Queues[0].At) != "{1 1 []}" {
		t.Fatalf("state %+v, %v", s, err)
	}
	if e := m.At(used, 12); binary.LittleEndian.Uint16(e[2:]) != 1 || binary.LittleEndian.Uint32(e[4:]) != 0 || binary.LittleEndian.Uint32(e[8:]) != 0 {
		t.Errorf("the guest's used ring % x: want head 0 given back, nothing written", e)
	}
}
