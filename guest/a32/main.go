// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command a32 is the test guest's 32-bit process (guest.mode=a32): built
// for GOARCH=arm (AArch32, A32/T32 at EL0 under the guest's 64-bit
// kernel), it keeps the CPU busy in user space, where a migration's pause
// most often finds it, and checks that nothing of its state changed under
// it: each block of work is computed twice, in registers and through
// memory, and compared. It prints one line a second:
//
//	FERRY-A32 n=<blocks> sum=<hex> OK
//
// and, on a mismatch, "FERRY-A32 n=<blocks> BAD ..." then exits 1.
package main

import (
	"fmt"
	"os"
	"runtime"
	"time"
)

// block is one unit of work: a xorshift stream folded into a sum, kept in
// locals (registers).
func block(seed uint32, rounds int) uint32 {
	x, sum := seed|1, uint32(0)
	for range rounds {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		sum = sum*31 + x
	}
	return sum
}

// blockMem is block through memory: the same stream written to and read
// back from a slice.
func blockMem(seed uint32, buf []uint32) uint32 {
	x := seed | 1
	for i := range buf {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		buf[i] = x
	}
	sum := uint32(0)
	for _, v := range buf {
		sum = sum*31 + v
	}
	return sum
}

func main() {
	if runtime.GOARCH != "arm" {
		fmt.Println("FERRY-A32 BAD built for", runtime.GOARCH, "not arm")
		os.Exit(1)
	}
	const rounds = 1 << 14
	buf := make([]uint32, rounds)
	var n, total uint32
	next := time.Now().Add(time.Second)
	for {
		n++
		a, b := block(n, rounds), blockMem(n, buf)
		if a != b {
			fmt.Printf("FERRY-A32 n=%d BAD registers %#x memory %#x\n", n, a, b)
			os.Exit(1)
		}
		total = total*33 + a
		if now := time.Now(); now.After(next) {
			fmt.Printf("FERRY-A32 n=%d sum=%08x OK\n", n, total)
			next = now.Add(time.Second)
		}
	}
}
