// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package virtiommio is the virtio-mmio transport (virtio 1.2, 4.2 "Virtio
// Over MMIO", version 2): its register layout, shared by Ferry's own
// virtio-net driver (net/virtionet), and the model of the guest's
// transport (Transport). The model gives the device shadow rings in
// Ferry's memory instead of the guest's (package virtq), relays between
// them at the guest's kicks and interrupt handling, checking every buffer
// against guest RAM, and records what cannot be read back (State): a
// migration stops the device and sets another up on the destination at
// the guest's ring positions.
package virtiommio

// Register offsets from the transport's base (4.2.2 "MMIO Device Register
// Layout"). R: read-only; W: write-only; RW: both.
const (
	RegMagicValue        = 0x000 // R: Magic
	RegVersion           = 0x004 // R: VersionModern for virtio 1.x, VersionLegacy before
	RegDeviceID          = 0x008 // R: 5 "Device Types"; 0 = no device
	RegVendorID          = 0x00c // R
	RegDeviceFeatures    = 0x010 // R: 32 feature bits selected by DeviceFeaturesSel
	RegDeviceFeaturesSel = 0x014 // W
	RegDriverFeatures    = 0x020 // W: 32 feature bits selected by DriverFeaturesSel
	RegDriverFeaturesSel = 0x024 // W
	RegQueueSel          = 0x030 // W: which virtqueue the Queue* registers address
	RegQueueNumMax       = 0x034 // R: largest queue size; 0 = queue not available
	RegQueueNum          = 0x038 // W: queue size the driver uses
	RegQueueReady        = 0x044 // RW: 1 = the queue may be used
	RegQueueNotify       = 0x050 // W: queue index with new available buffers
	RegInterruptStatus   = 0x060 // R: bit 0 used buffer, bit 1 configuration change
	RegInterruptACK      = 0x064 // W
	RegStatus            = 0x070 // RW: device status (2.1); writing 0 resets
	RegQueueDescLow      = 0x080 // W: descriptor area address, low and high 32 bits
	RegQueueDescHigh     = 0x084
	RegQueueDriverLow    = 0x090 // W: driver (available ring) area address
	RegQueueDriverHigh   = 0x094
	RegQueueDeviceLow    = 0x0a0 // W: device (used ring) area address
	RegQueueDeviceHigh   = 0x0a4
	RegConfigGeneration  = 0x0fc // R: changes when the configuration space changes
	RegConfig            = 0x100 // device-specific configuration space

	// Size is a transport's register window (QEMU's virt: 0x200).
	Size = 0x200
)

// Identification values (4.2.2).
const (
	Magic         = 0x74726976 // little-endian "virt"
	VersionModern = 2          // virtio 1.x register layout
	VersionLegacy = 1          // pre-1.0 layout (QEMU's default: force-legacy=true)
)

// Device status bits (2.1 "Device Status Field").
const (
	StatusAcknowledge      = 1   // the guest noticed the device
	StatusDriver           = 2   // the guest knows how to drive it
	StatusDriverOK         = 4   // the driver is set up and ready
	StatusFeaturesOK       = 8   // feature negotiation is complete
	StatusDeviceNeedsReset = 64  // the device hit an error it cannot recover from
	StatusFailed           = 128 // the driver gave up on the device
)
