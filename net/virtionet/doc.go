// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Package virtionet is Ferry's driver for its management NIC on QEMU's
// board: a virtio 1.x network device (virtio-net, device ID 1) behind a
// virtio-mmio transport (Version 2, non-legacy), polled while there is work
// and interrupt-driven when idle. Its Device is a link.Device: package
// link's gVisor stack.LinkEndpoint runs it.
//
// It follows the OASIS Virtual I/O Device (VIRTIO) specification, version
// 1.2: section 2 "Basic Facilities of a Virtio Device" (status, feature bits,
// split virtqueues), 3.1 "Device Initialization", 4.2 "Virtio Over MMIO" and
// 5.1 "Network Device". Section numbers in comments refer to that document.
//
// Layering, bottom up:
//
//	Regs, DMA     the transport's register file and DMA-able memory (interfaces)
//	Transport     virtio-mmio: probe, reset, feature negotiation, queue set-up
//	queue         one split virtqueue of fixed buffers (descriptor i <-> buffer i)
//	Device        virtio-net: receive and transmit queues, MAC, statistics (a link.Device)
//
// Everything above Regs and DMA is plain Go over byte slices and is tested on
// the host against a software device model (package fakedev). The real
// register access (32-bit and 8-bit loads and stores at the transport's
// physical address) and DMA memory (the Go heap, which is identity-mapped:
// physical address == virtual address) are the only hardware code, in the
// files built for tamago/arm64, together with Find and Open.
//
// Only VIRTIO_F_VERSION_1, VIRTIO_NET_F_MAC and VIRTIO_F_ACCESS_PLATFORM are
// negotiated: no mergeable receive buffers, no checksum or segmentation
// offload (QEMU offers none over the socket netdev: see negotiate), one
// queue pair, no control queue. Interrupts are NAPI-style: the device is
// asked not to interrupt (VIRTQ_AVAIL_F_NO_INTERRUPT) from its interrupt
// (Interrupt acknowledges it) until the poller has drained the queues and
// Arms it again; a driver that never Arms polls and is never interrupted.
// It is not a general virtio framework.
package virtionet
