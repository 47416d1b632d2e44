// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

package main

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/md5"
	"crypto/sha256"
	"hash/crc32"
	"time"

	"gvisor.dev/gvisor/pkg/tcpip/checksum"

	"github.com/ferry-hv/ferry/cpu"
)

// cpuBench prints what the per-byte work of the data path costs on this
// CPU (under QEMU: the emulated one): copying and the Internet checksum,
// over 64 KiB frames; then which ARMv8 crypto and CRC32 instructions the
// CPU has and whether Go uses them, and the speed of AES-128-GCM, SHA-256,
// CRC32C (Castagnoli) and MD5 (whose arm64 assembly uses none of those
// instructions: the control).
func cpuBench() {
	const frame, total = 64 << 10, 256 << 20
	src, dst := make([]byte, frame), make([]byte, frame)
	for i := range src {
		src[i] = byte(i)
	}
	start := time.Now()
	for n := 0; n < total; n += frame {
		copy(dst, src)
	}
	logf("cpu: copy %s", mibps(total, time.Since(start)))
	start = time.Now()
	var sum uint16
	for n := 0; n < total; n += frame {
		sum += checksum.Checksum(src, 0)
	}
	logf("cpu: checksum %s (%#x)", mibps(total, time.Since(start)), sum)

	isar0 := cpu.ReadID_AA64ISAR0_EL1()
	logf("cpu: ID_AA64ISAR0_EL1 %#x: AES %d, SHA2 %d, CRC32 %d (the CPU has them when non-zero)",
		isar0, cpu.Field(isar0, isar0AES), cpu.Field(isar0, isar0SHA2), cpu.Field(isar0, isar0CRC32))
	cryptoBench(src)
	// crypto/tls prefers AES-GCM only when internal/cpu reports AES and
	// PMULL (hasAESGCMHardwareSupport).
	if suite, rate, err := tlsBench(src); err != nil {
		logf("cpu: TLS 1.3 over a pipe: %v", err)
	} else {
		logf("cpu: TLS 1.3 over a pipe between two crypto/tls peers in this image: %s, %s", suite, rate)
	}
}

// ID_AA64ISAR0_EL1 fields (ARM ARM D23.2 ID_AA64ISAR0_EL1) read by Go's
// internal/cpu once the toolchain carries scripts/tamago-go-cpu.patch.
const (
	isar0AES   = 4  // 1: AESE/AESD..., 2: also PMULL
	isar0SHA2  = 12 // 1: SHA256H..., 2: also SHA512
	isar0CRC32 = 16 // 1: CRC32/CRC32C
)

// benchTime is how long each throughput figure measures for.
const benchTime = 2 * time.Second

// cryptoBench prints the throughput of each primitive over buf.
func cryptoBench(buf []byte) {
	key := make([]byte, 16)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, 12)
	out := make([]byte, 0, len(buf)+64)
	castagnoli := crc32.MakeTable(crc32.Castagnoli)
	var crc uint32
	for _, b := range []struct {
		name string
		fn   func()
	}{
		{"AES-128-GCM seal", func() { out = gcm.Seal(out[:0], nonce, buf, nil) }},
		{"SHA-256", func() { s := sha256.Sum256(buf); out = append(out[:0], s[:]...) }},
		{"CRC32C", func() { crc = crc32.Update(crc, castagnoli, buf) }},
		{"MD5 (control)", func() { s := md5.Sum(buf); out = append(out[:0], s[:]...) }},
	} {
		n, start := int64(0), time.Now()
		for time.Since(start) < benchTime {
			b.fn()
			n += int64(len(buf))
		}
		logf("cpu: %s %s", b.name, mibps(n, time.Since(start)))
	}
}
