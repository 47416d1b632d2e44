// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

package virtionet

import (
	"strings"
	"testing"
)

func TestNegotiate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		offered uint64
		want    uint64
		err     string
	}{
		{"version1 only", featureVersion1, featureVersion1, ""},
		{"version1 and MAC", featureVersion1 | featureNetMAC, featureVersion1 | featureNetMAC, ""},
		{"mergeable buffers refused", featureVersion1 | featureNetMAC | featureNetMrgRxBuf, featureVersion1 | featureNetMAC, ""},
		{"packed ring refused", featureVersion1 | featureRingPacked | featureNotificationData, featureVersion1, ""},
		{"access platform taken", featureVersion1 | featureAccessPlatform, featureVersion1 | featureAccessPlatform, ""},
		{"checksum offloads refused", featureVersion1 | featureNetMAC | featureNetCSUM | featureNetGuestCSUM, featureVersion1 | featureNetMAC, ""},
		{"legacy device", featureNetMAC | featureNetMrgRxBuf, 0, "VIRTIO_F_VERSION_1"},
		{"nothing offered", 0, 0, "legacy"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := negotiate(tc.offered)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("negotiate(%#x) = %#x, %v; want error containing %q", tc.offered, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("negotiate(%#x) = %#x, %v; want %#x", tc.offered, got, err, tc.want)
			}
		})
	}
}

func TestFeatureNames(t *testing.T) {
	for bit, name := range featureNames {
		if bit&(bit-1) != 0 || !strings.HasPrefix(name, "VIRTIO_") {
			t.Errorf("feature %#x named %q: want one bit and a VIRTIO_ name", bit, name)
		}
	}
}

func TestDescribeFeatures(t *testing.T) {
	if got, want := DescribeFeatures(featureVersion1|featureNetMAC|1<<16|1<<63), "VIRTIO_NET_F_MAC|VIRTIO_NET_F_STATUS|VIRTIO_F_VERSION_1|bit63"; got != want {
		t.Errorf("DescribeFeatures = %q, want %q", got, want)
	}
	if got := DescribeFeatures(0); got != "none" {
		t.Errorf("DescribeFeatures(0) = %q, want none", got)
	}
}
