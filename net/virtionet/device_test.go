// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"bytes"
	"errors"
	"fmt"
	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
	"net"
	"strings"
	"testing"

	"github.com/ferry-hv/ferry/net/virtionet/fakedev"
)

var testMAC = [6]byte{0x52, 0x54, 0x00, 0x77, 0x00, 0x11}

const testBase = 0x0a003e00

func newDev(t *testing.T, o fakedev.Options, opt Options) (*Device, *fakedev.Device) {
	t.Helper()
	if o.MAC == [6]byte{} {
		o.MAC = testMAC
	}
	mem := fakedev.NewMemory()
	fd := fakedev.New(mem, o)
	if opt.MTU == 0 {
		opt.MTU = 1500
	}
	d, err := New(fd, testBase, mem, opt)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	checkClean(t, fd)
	return d, fd
}

func checkClean(t *testing.T, fd *fakedev.Device) {
	t.Helper()
	for _, v := range fd.Violations() {
		t.Errorf("device reports: %s", v)
	}
}

func frame(n int, seq int) []byte {
	f := make([]byte, n)
	copy(f, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) // broadcast
	copy(f[6:], testMAC[:])
	f[12], f[13] = 0x88, 0xb5 // local experimental EtherType
	for i := EthernetHeaderSize; i < n; i++ {
		f[i] = byte(seq + i)
	}
	return f
}

func TestInit(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{}, Options{})
	if got, want := fd.DriverFeatures(), uint64(featureVersion1|featureNetMAC); got != want {
		t.Errorf("driver accepted %s, want %s", DescribeFeatures(got), DescribeFeatures(want))
	}
	if s := fd.Status(); s != vm.StatusAcknowledge|vm.StatusDriver|vm.StatusFeaturesOK|vm.StatusDriverOK {
		t.Errorf("status %#x, want ACKNOWLEDGE|DRIVER|FEATURES_OK|DRIVER_OK", s)
	}
	if !bytes.Equal(d.MAC(), testMAC[:]) {
		t.Errorf("MAC %v, want %v", d.MAC(), net.HardwareAddr(testMAC[:]))
	}
	if rx, tx := d.QueueSizes(); rx != 256 || tx != 256 {
		t.Errorf("queue sizes %d/%d, want 256/256", rx, tx)
	}
	if fd.Notifies(0) != 1 {
		t.Errorf("receive queue notified %d times at start, want once", fd.Notifies(0))
	}
}

func TestInitErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		o    fakedev.Options
		opt  Options
		err  string
	}{
		{"no VERSION_1", fakedev.Options{Features: fakedev.FeatureMAC | fakedev.FeatureMrgRxBuf}, Options{MTU: 1500}, "VIRTIO_F_VERSION_1"},
		{"legacy transport", fakedev.Options{Version: 1}, Options{MTU: 1500}, "force-legacy=false"},
		{"unknown version", fakedev.Options{Version: 3}, Options{MTU: 1500}, "Version 3"},
		{"not a NIC", fakedev.Options{DeviceID: 2}, Options{MTU: 1500}, "device ID 2"},
		{"features refused", fakedev.Options{RefuseFeatures: true}, Options{MTU: 1500}, "refused features"},
		{"MTU too small", fakedev.Options{}, Options{MTU: 100}, "MTU 100"},
		{"MTU too large", fakedev.Options{}, Options{MTU: 70000}, "MTU 70000"},
		{"queue too small", fakedev.Options{QueueNumMax: 4}, Options{MTU: 1500}, "only 4 entries"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := fakedev.NewMemory()
			fd := fakedev.New(mem, tc.o)
			_, err := New(fd, testBase, mem, tc.opt)
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("New = %v, want error containing %q", err, tc.err)
			}
			if tc.opt.MTU == 1500 && !strings.Contains(err.Error(), "virtio-mmio 0xa003e00") {
				t.Errorf("error %q does not say which transport", err)
			}
			if strings.HasPrefix(tc.name, "no VERSION") && fd.Status()&vm.StatusFailed == 0 {
				t.Errorf("status %#x: driver did not set FAILED", fd.Status())
			}
		})
	}
}

func TestTransmit(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{QueueNumMax: 16}, Options{})
	// Several laps of the ring, and a frame in pieces.
	for round := 0; round < 10; round++ {
		var want [][]byte
		for i := 0; i < 11; i++ {
			f := frame(60+i*100, round*100+i)
			want = append(want, f)
			if err := d.Transmit(f[:7], f[7:20], f[20:]); err != nil {
				t.Fatalf("round %d frame %d: %v", round, i, err)
			}
		}
		d.Flush()
		got := fd.Transmitted()
		if len(got) != len(want) {
			t.Fatalf("round %d: device got %d frames, want %d", round, len(got), len(want))
		}
		for i := range got {
			if !bytes.Equal(got[i], want[i]) {
				t.Fatalf("round %d frame %d differs", round, i)
			}
		}
		if n := d.Reclaim(); n != len(want) {
			t.Fatalf("round %d: reclaimed %d, want %d", round, n, len(want))
		}
	}
	s := d.Stats()
	if s.TxFrames != 110 || s.TxDrops != 0 {
		t.Errorf("stats %+v", s)
	}
	if fd.Notifies(1) != 10 {
		t.Errorf("transmit queue notified %d times, want once per flush (10)", fd.Notifies(1))
	}
	checkClean(t, fd)
}

func TestTransmitFullAndTooLarge(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{QueueNumMax: 8}, Options{})
	for i := 0; i < 8; i++ {
		if err := d.Transmit(frame(100, i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Transmit(frame(100, 9)); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("9th frame into 8 buffers: %v, want ErrQueueFull", err)
	}
	if err := d.Transmit(frame(d.MaxFrame()+1, 0)); err == nil || !strings.Contains(err.Error(), "exceeds") {
		t.Fatalf("oversized frame: %v", err)
	}
	if d.Stats().TxDrops != 1 {
		t.Errorf("TxDrops %d, want 1", d.Stats().TxDrops)
	}
	d.Flush()
	if n := len(fd.Transmitted()); n != 8 {
		t.Errorf("device got %d frames, want 8", n)
	}
	if d.TxFree() != 0 || d.Reclaim() != 8 || d.TxFree() != 8 {
		t.Errorf("reclaim did not free the 8 buffers")
	}
	// A full-size frame fits exactly.
	if err := d.Transmit(frame(d.MaxFrame(), 0)); err != nil {
		t.Fatal(err)
	}
	d.Flush()
	if got := fd.Transmitted(); len(got) != 1 || len(got[0]) != 1514 {
		t.Errorf("full-size frame not sent whole")
	}
	checkClean(t, fd)
}

func TestNoNotify(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{NoNotify: true}, Options{})
	for i := 0; i < 5; i++ {
		d.Transmit(frame(64, i))
		d.Flush()
	}
	if len(fd.Transmitted()) != 5 || fd.Notifies(1) != 0 {
		t.Errorf("device asked for no notifications but got %d", fd.Notifies(1))
	}
}

func TestReceive(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{QueueNumMax: 8}, Options{MTU: 9000})
	// 70000 frames: more than 2^16, so the free-running 16-bit ring
	// indexes wrap.
	const total = 70000
	next, got := 0, 0
	for got < total {
		for i := 0; i < 5 && next < total; i++ {
			fd.Receive(frame(60+next%8000, next))
			next++
		}
		d.Receive(3, func(f []byte) {
			if want := frame(60+got%8000, got); !bytes.Equal(f, want) {
				t.Fatalf("frame %d: got %d bytes, want %d", got, len(f), len(want))
			}
			got++
		})
		fd.Flush()
	}
	if s := d.Stats(); s.RxFrames != total || s.RxDrops != 0 {
		t.Errorf("stats %+v", s)
	}
	checkClean(t, fd)
}

func TestReceiveFullSize(t *testing.T) {
	for _, mtu := range []int{1500, 9000, 65535} {
		t.Run(fmt.Sprint(mtu), func(t *testing.T) {
			d, fd := newDev(t, fakedev.Options{}, Options{MTU: mtu})
			fd.Receive(frame(mtu+EthernetHeaderSize, 1))
			n := 0
			d.Receive(10, func(f []byte) { n = len(f) })
			if n != mtu+EthernetHeaderSize {
				t.Errorf("received %d bytes, want %d", n, mtu+EthernetHeaderSize)
			}
			checkClean(t, fd)
		})
	}
}

func TestDeviceBreaksProtocol(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func(fd *fakedev.Device)
		err  string
	}{
		{"unknown descriptor", func(fd *fakedev.Device) { fd.CorruptUsed(0, 300, 10) }, "descriptor 300"},
		{"length past buffer", func(fd *fakedev.Device) { fd.CorruptUsed(0, 3, 9999) }, "wrote 9999 bytes"},
		{"needs reset", func(fd *fakedev.Device) { fd.SetNeedsReset() }, "DEVICE_NEEDS_RESET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, fd := newDev(t, fakedev.Options{}, Options{})
			tc.do(fd)
			d.Receive(10, func([]byte) { t.Error("frame delivered from a broken device") })
			d.Check()
			if err := d.Err(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("Err = %v, want %q", err, tc.err)
			}
			if fd.Status()&vm.StatusFailed == 0 {
				t.Errorf("driver did not set FAILED")
			}
			if err := d.Transmit(frame(64, 0)); err == nil {
				t.Errorf("Transmit on a stopped device succeeded")
			}
		})
	}
}

func TestUsedRunsAhead(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{QueueNumMax: 8}, Options{})
	// The transmit queue holds nothing: any used element is bogus.
	fd.CorruptUsed(1, 0, 0)
	d.Reclaim()
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "holds only 0") {
		t.Fatalf("Err = %v", err)
	}
}

func TestQueueSize(t *testing.T) {
	for _, tc := range []struct {
		max, buf int
		opt      Options
		want     int
	}{
		{256, 1526, Options{}, 256},
		{1024, 1526, Options{}, 256},
		{128, 1526, Options{}, 128},
		{256, 9026, Options{}, 256},
		{256, 65561, Options{}, 32}, // 4 MiB / 64.06 KiB = 63 -> 32
		{256, 65536, Options{}, 64},
		{256, 1526, Options{QueueSize: 100}, 64},
		{256, 65536, Options{QueueBytes: 1 << 20}, 16},
		{256, 65536, Options{QueueBytes: 1000}, 0},
	} {
		if got := queueSize(tc.max, tc.buf, tc.opt); got != tc.want {
			t.Errorf("queueSize(%d, %d, %+v) = %d, want %d", tc.max, tc.buf, tc.opt, got, tc.want)
		}
	}
}

func TestQueueLayout(t *testing.T) {
	// 2.7 "Split Virtqueues": descriptor table 16*n, available ring 6+2*n,
	// used ring 6+8*n at 4-byte alignment.
	avail, used, total := queueLayout(256)
	if avail != 4096 || used != 4096+520 || total != 4616+6+8*256 {
		t.Errorf("queueLayout(256) = %d, %d, %d", avail, used, total)
	}
	avail, used, _ = queueLayout(1)
	if avail != 16 || used != 24 {
		t.Errorf("queueLayout(1) = %d, %d", avail, used)
	}
}

// genRegs bumps the configuration generation during the first reads.
type genRegs struct {
	*fakedev.Device
	bumps int
}

func (g *genRegs) Read8(off uint32) uint8 {
	if g.bumps > 0 {
		g.bumps--
		g.BumpConfigGeneration()
	}
	return g.Device.Read8(off)
}

func TestReadConfigRetries(t *testing.T) {
	fd := fakedev.New(fakedev.NewMemory(), fakedev.Options{MAC: testMAC})
	g := &genRegs{Device: fd, bumps: 3}
	b, err := NewTransport(g, testBase).ReadConfig(configOffMAC, macLen)
	if err != nil || !bytes.Equal(b, testMAC[:]) {
		t.Fatalf("ReadConfig = %x, %v", b, err)
	}
	g.bumps = 1000
	if _, err := NewTransport(g, testBase).ReadConfig(configOffMAC, macLen); !errors.Is(err, errConfigUnstable) {
		t.Fatalf("ReadConfig with a config that keeps changing = %v", err)
	}
}

func TestNoMACFeature(t *testing.T) {
	d, _ := newDev(t, fakedev.Options{Features: fakedev.FeatureVersion1}, Options{})
	if len(d.MAC()) != 6 || d.MAC()[0]&1 != 0 || d.MAC()[0]&2 == 0 {
		t.Errorf("made-up MAC %v is not a locally administered unicast address", d.MAC())
	}
}

// Below an MTU of 1500, receive buffers still hold a full 1514-byte frame
// (5.1.6.3.1), so a peer with a larger MTU is not silently dropped.
func TestSmallMTUReceivesFullFrames(t *testing.T) {
	d, fd := newDev(t, fakedev.Options{}, Options{MTU: MinMTU})
	fd.Receive(frame(1514, 3))
	n := 0
	d.Receive(1, func(f []byte) { n = len(f) })
	if n != 1514 {
		t.Errorf("received %d bytes, want 1514", n)
	}
	if d.MaxFrame() != MinMTU+EthernetHeaderSize {
		t.Errorf("MaxFrame %d", d.MaxFrame())
	}
	checkClean(t, fd)
}
