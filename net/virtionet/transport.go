// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"errors"
	"fmt"
	vm "github.com/ferry-hv/ferry/mmio/virtiommio"
)

// resetPolls bounds how often the status register is read back after a
// reset before the device is declared stuck (2.4.2: the driver SHOULD read
// the status back until it returns 0).
const resetPolls = 1 << 20

// configPolls bounds the retries of a configuration-space read that races
// with a configuration change (2.5.1, 4.2.2: ConfigGeneration).
const configPolls = 16

// Transport is one virtio-mmio transport (4.2): identification, the
// initialisation sequence of 3.1.1 and virtqueue set-up of 4.2.3.2.
type Transport struct {
	r    Regs
	base uint64 // the transport's physical address, for messages
}

// NewTransport returns the transport whose register file is r; base is its
// physical address, used only in messages.
func NewTransport(r Regs, base uint64) *Transport { return &Transport{r: r, base: base} }

func (t *Transport) errorf(format string, args ...any) error {
	return fmt.Errorf("virtio-mmio %#x: "+format, append([]any{t.base}, args...)...)
}

// Probe reads the identification registers. ok is false when the
// registers do not carry the virtio magic value.
func (t *Transport) Probe() (version, deviceID uint32, ok bool) {
	if t.r.Read32(vm.RegMagicValue) != vm.Magic {
		return 0, 0, false
	}
	return t.r.Read32(vm.RegVersion), t.r.Read32(vm.RegDeviceID), true
}

// Begin resets the device and takes it through feature negotiation
// (3.1.1 steps 1-6): reset, ACKNOWLEDGE, DRIVER, read the offered
// features, write the accepted ones (negotiate), FEATURES_OK and check
// that the device kept FEATURES_OK. It returns the offered and the
// accepted features.
func (t *Transport) Begin(deviceID uint32, negotiate func(offered uint64) (uint64, error)) (offered, accepted uint64, err error) {
	version, id, ok := t.Probe()
	switch {
	case !ok:
		return 0, 0, t.errorf("no virtio magic value (%#x)", t.r.Read32(vm.RegMagicValue))
	case version == vm.VersionLegacy:
		return 0, 0, t.errorf("legacy virtio-mmio transport (Version 1): this driver needs Version 2; " +
			"on QEMU add -global virtio-mmio.force-legacy=false")
	case version != vm.VersionModern:
		return 0, 0, t.errorf("unknown virtio-mmio Version %d (want 2)", version)
	case id != deviceID:
		return 0, 0, t.errorf("device ID %d, want %d", id, deviceID)
	}
	if err := t.reset(); err != nil {
		return 0, 0, err
	}
	t.setStatus(vm.StatusAcknowledge)
	t.setStatus(vm.StatusDriver)
	offered = t.features(vm.RegDeviceFeaturesSel, vm.RegDeviceFeatures)
	accepted, err = negotiate(offered)
	if err != nil {
		t.Fail()
		return 0, 0, t.errorf("%v", err)
	}
	t.r.Write32(vm.RegDriverFeaturesSel, 0)
	t.r.Write32(vm.RegDriverFeatures, uint32(accepted))
	t.r.Write32(vm.RegDriverFeaturesSel, 1)
	t.r.Write32(vm.RegDriverFeatures, uint32(accepted>>32))
	t.setStatus(vm.StatusFeaturesOK)
	if t.r.Read32(vm.RegStatus)&vm.StatusFeaturesOK == 0 {
		t.Fail()
		return 0, 0, t.errorf("device refused features %s (offered %s)", DescribeFeatures(accepted), DescribeFeatures(offered))
	}
	return offered, accepted, nil
}

func (t *Transport) reset() error {
	t.r.Write32(vm.RegStatus, 0)
	for i := 0; i < resetPolls; i++ {
		if t.r.Read32(vm.RegStatus) == 0 {
			return nil
		}
	}
	return t.errorf("device did not complete reset (status %#x)", t.r.Read32(vm.RegStatus))
}

func (t *Transport) setStatus(bit uint32) {
	t.r.Write32(vm.RegStatus, t.r.Read32(vm.RegStatus)|bit)
}

// features reads a 64-bit feature word through its select register.
func (t *Transport) features(sel, reg uint32) uint64 {
	t.r.Write32(sel, 0)
	lo := t.r.Read32(reg)
	t.r.Write32(sel, 1)
	hi := t.r.Read32(reg)
	return uint64(hi)<<32 | uint64(lo)
}

// QueueMax selects queue idx and returns its maximum size (QueueNumMax).
// It fails if the queue does not exist or is already live.
func (t *Transport) QueueMax(idx uint32) (uint16, error) {
	t.r.Write32(vm.RegQueueSel, idx)
	if t.r.Read32(vm.RegQueueReady) != 0 {
		return 0, t.errorf("queue %d is already ready before set-up", idx)
	}
	n := t.r.Read32(vm.RegQueueNumMax)
	if n == 0 {
		return 0, t.errorf("queue %d is not available (QueueNumMax 0)", idx)
	}
	if n > maxQueueSize {
		n = maxQueueSize
	}
	return uint16(n), nil
}

// SetQueue hands queue idx to the device (4.2.3.2 steps 5-7): its size and
// the bus addresses of its descriptor, driver and device areas.
func (t *Transport) SetQueue(idx uint32, size uint16, desc, driver, device uint64) {
	t.r.Write32(vm.RegQueueSel, idx)
	t.r.Write32(vm.RegQueueNum, uint32(size))
	t.r.Write32(vm.RegQueueDescLow, uint32(desc))
	t.r.Write32(vm.RegQueueDescHigh, uint32(desc>>32))
	t.r.Write32(vm.RegQueueDriverLow, uint32(driver))
	t.r.Write32(vm.RegQueueDriverHigh, uint32(driver>>32))
	t.r.Write32(vm.RegQueueDeviceLow, uint32(device))
	t.r.Write32(vm.RegQueueDeviceHigh, uint32(device>>32))
	t.r.Write32(vm.RegQueueReady, 1)
}

// DriverOK completes initialisation (3.1.1 step 8); the device is live.
func (t *Transport) DriverOK() error {
	t.setStatus(vm.StatusDriverOK)
	if s := t.r.Read32(vm.RegStatus); s&vm.StatusDeviceNeedsReset != 0 {
		return t.errorf("device needs reset right after DRIVER_OK (status %#x)", s)
	}
	return nil
}

// Fail tells the device the driver has given up on it (2.1: FAILED).
func (t *Transport) Fail() { t.setStatus(vm.StatusFailed) }

// NeedsReset reports whether the device has signalled an unrecoverable
// error (2.1.1: DEVICE_NEEDS_RESET).
func (t *Transport) NeedsReset() bool {
	return t.r.Read32(vm.RegStatus)&vm.StatusDeviceNeedsReset != 0
}

// Notify tells the device that queue idx has new available buffers.
func (t *Transport) Notify(idx uint32) { t.r.Write32(vm.RegQueueNotify, idx) }

// errConfigUnstable is returned when the configuration space keeps
// changing under a read.
var errConfigUnstable = errors.New("configuration space changed during every read")

// ReadConfig reads n bytes of the device-specific configuration space from
// offset off, one byte at a time, retrying while ConfigGeneration changes
// under the read (4.2.2.2).
func (t *Transport) ReadConfig(off uint32, n int) ([]byte, error) {
	b := make([]byte, n)
	for try := 0; try < configPolls; try++ {
		gen := t.r.Read32(vm.RegConfigGeneration)
		for i := range b {
			b[i] = t.r.Read8(vm.RegConfig + off + uint32(i))
		}
		if t.r.Read32(vm.RegConfigGeneration) == gen {
			return b, nil
		}
	}
	return nil, t.errorf("%w", errConfigUnstable)
}
