// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"fmt"
	"strings"
)

// Feature bits (6 "Reserved Feature Bits", 5.1.3 "Feature bits").
const (
	featureNetCSUM          = 1 << 0  // VIRTIO_NET_F_CSUM: the device completes partial checksums (never accepted)
	featureNetGuestCSUM     = 1 << 1  // VIRTIO_NET_F_GUEST_CSUM: the driver takes partial/unverified checksums (never accepted)
	featureNetMAC           = 1 << 5  // VIRTIO_NET_F_MAC: the device has a MAC address in its configuration space
	featureNetMrgRxBuf      = 1 << 15 // VIRTIO_NET_F_MRG_RXBUF: merged receive buffers (never accepted here)
	featureVersion1         = 1 << 32 // VIRTIO_F_VERSION_1: the device complies with virtio 1.x
	featureAccessPlatform   = 1 << 33 // VIRTIO_F_ACCESS_PLATFORM: device addresses go through the platform's IOMMU, if any
	featureRingPacked       = 1 << 34 // VIRTIO_F_RING_PACKED (never accepted: split rings only)
	featureNotificationData = 1 << 38 // VIRTIO_F_NOTIFICATION_DATA (never accepted)
)

// featureNames names the feature bits (5.1.3 "Feature bits", 6 "Reserved
// Feature Bits") for logs and errors; only those in the constants above
// mean anything to the driver.
var featureNames = map[uint64]string{
	featureNetCSUM:          "VIRTIO_NET_F_CSUM",
	featureNetGuestCSUM:     "VIRTIO_NET_F_GUEST_CSUM",
	1 << 3:                  "VIRTIO_NET_F_MTU",
	featureNetMAC:           "VIRTIO_NET_F_MAC",
	1 << 7:                  "VIRTIO_NET_F_GUEST_TSO4",
	1 << 8:                  "VIRTIO_NET_F_GUEST_TSO6",
	1 << 10:                 "VIRTIO_NET_F_GUEST_UFO",
	1 << 11:                 "VIRTIO_NET_F_HOST_TSO4",
	1 << 12:                 "VIRTIO_NET_F_HOST_TSO6",
	1 << 14:                 "VIRTIO_NET_F_HOST_UFO",
	featureNetMrgRxBuf:      "VIRTIO_NET_F_MRG_RXBUF",
	1 << 16:                 "VIRTIO_NET_F_STATUS",
	1 << 17:                 "VIRTIO_NET_F_CTRL_VQ",
	1 << 18:                 "VIRTIO_NET_F_CTRL_RX",
	1 << 19:                 "VIRTIO_NET_F_CTRL_VLAN",
	1 << 20:                 "VIRTIO_NET_F_CTRL_RX_EXTRA",
	1 << 21:                 "VIRTIO_NET_F_GUEST_ANNOUNCE",
	1 << 22:                 "VIRTIO_NET_F_MQ",
	1 << 23:                 "VIRTIO_NET_F_CTRL_MAC_ADDR",
	1 << 24:                 "VIRTIO_F_NOTIFY_ON_EMPTY",
	1 << 27:                 "VIRTIO_F_ANY_LAYOUT",
	1 << 28:                 "VIRTIO_F_INDIRECT_DESC",
	1 << 29:                 "VIRTIO_F_EVENT_IDX",
	featureVersion1:         "VIRTIO_F_VERSION_1",
	featureAccessPlatform:   "VIRTIO_F_ACCESS_PLATFORM",
	featureRingPacked:       "VIRTIO_F_RING_PACKED",
	1 << 35:                 "VIRTIO_F_IN_ORDER",
	1 << 36:                 "VIRTIO_F_ORDER_PLATFORM",
	featureNotificationData: "VIRTIO_F_NOTIFICATION_DATA",
}

// negotiate picks the features the driver accepts from those the device
// offers. VIRTIO_F_VERSION_1 is required: without it the device is a
// legacy (pre-1.0) device whose rings and header this driver does not
// speak (6.1: "A driver MUST accept VIRTIO_F_VERSION_1 if it is offered").
// VIRTIO_NET_F_MAC is taken when offered. VIRTIO_F_ACCESS_PLATFORM is taken
// when offered (6.1: the driver SHOULD accept it); the board has no IOMMU
// in front of the device, so bus addresses are physical addresses either
// way. Nothing else is accepted, in particular not mergeable receive
// buffers, so every receive buffer holds a whole frame.
//
// Nor the checksum offloads (VIRTIO_NET_F_CSUM, VIRTIO_NET_F_GUEST_CSUM):
// QEMU's virtio-net offers them only when its backend carries a vnet
// header (tap, vhost); over the socket netdev Ferry's management link uses
// it clears both (virtio_net_get_features: !peer_has_vnet_hdr), and no
// frame on that link can say "checksum left to the device". The driver
// therefore writes all-zero headers (no VIRTIO_NET_HDR_F_NEEDS_CSUM) and
// reads none, and the stack computes and verifies every checksum
// (docs/decisions.md: with no TCP checksum work at all the link gained
// about 10 %, within its noise).
func negotiate(offered uint64) (accepted uint64, err error) {
	if offered&featureVersion1 == 0 {
		return 0, fmt.Errorf("device does not offer VIRTIO_F_VERSION_1 (feature bit 32; offered %#x): it is a legacy virtio device", offered)
	}
	accepted = featureVersion1
	accepted |= offered & (featureNetMAC | featureAccessPlatform)
	return accepted, nil
}

// DescribeFeatures lists the named bits of f, and any others as numbers,
// e.g. "VIRTIO_NET_F_MAC|VIRTIO_F_VERSION_1".
func DescribeFeatures(f uint64) string {
	var parts []string
	for bit := 0; bit < 64; bit++ {
		m := uint64(1) << bit
		if f&m == 0 {
			continue
		}
		if name, ok := featureNames[m]; ok {
			parts = append(parts, name)
		} else {
			parts = append(parts, fmt.Sprintf("bit%d", bit))
		}
	}
	if len(parts) == 0 {
		return "none"
	}
	return strings.Join(parts, "|")
}
