// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-hwbreak is the test guest's debugger (guest.mode=hwbreak):
// it sets hardware breakpoints and watchpoints on itself the way perf
// does -- perf_event_open(PERF_TYPE_BREAKPOINT), which Linux programs into
// DBGBVR/DBGBCR and DBGWVR/DBGWCR -- then, once a second, calls each
// breakpointed function and writes each watched word -calls times, and
// reads how many times each fired. The events are the CPU's (pid -1, CPU
// 0: "perf stat -a -e mem:<addr>"), as a kernel debugger's are: Linux
// programs them once, not again at every switch to a task, so what a
// migration loses of the debug registers stays lost. It prints
//
//	FERRY-HWBREAK set bp=<b> wp=<w>
//	FERRY-HWBREAK n=<round> hits=<fired this round> want=<(b+w)*calls> OK
//
// or "... BAD bp<i>=<hits> ..." naming each that fired fewer times than
// it was hit. (One may fire more: a hit Linux steps over is taken again
// when an interrupt comes in between, so a round can count a few extra.)
// A guest whose debug registers (or OS lock) are lost in a migration counts
// nothing on the destination. Built for the
// guest (GOARCH=arm64) by scripts/guest.sh.
package main

import (
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"reflect"
	"strings"
	"syscall"
	"time"
	"unsafe"
)

// perf_event_attr, as far as breakpoints need it
// (include/uapi/linux/perf_event.h, PERF_ATTR_SIZE_VER5).
type perfEventAttr struct {
	Type         uint32
	Size         uint32
	Config       uint64
	SamplePeriod uint64
	SampleType   uint64
	ReadFormat   uint64
	Flags        uint64 // disabled (bit 0), ..., exclude_kernel (5), exclude_hv (6)
	WakeupEvents uint32
	BPType       uint32
	BPAddr       uint64
	BPLen        uint64
	BranchSample uint64
	SampleRegs   uint64
	SampleStack  uint32
	ClockID      int32
	SampleRegsI  uint64
	AuxWatermark uint32
	MaxStack     uint16
	_            uint16
}

const (
	perfTypeBreakpoint = 5
	bpW                = 2 // HW_BREAKPOINT_W
	bpX                = 4 // HW_BREAKPOINT_X
	bpLen4             = 4
	bpLen8             = 8
	excludeKernel      = 1 << 5
	excludeHV          = 1 << 6
)

// The breakpointed functions: distinct, not inlined.
//
//go:noinline
func f0(x uint64) uint64 { return x + 1 }

//go:noinline
func f1(x uint64) uint64 { return x + 2 }

//go:noinline
func f2(x uint64) uint64 { return x + 3 }

//go:noinline
func f3(x uint64) uint64 { return x + 4 }

//go:noinline
func f4(x uint64) uint64 { return x + 5 }

//go:noinline
func f5(x uint64) uint64 { return x + 6 }

//go:noinline
func f6(x uint64) uint64 { return x + 7 }

//go:noinline
func f7(x uint64) uint64 { return x + 8 }

var funcs = []func(uint64) uint64{f0, f1, f2, f3, f4, f5, f6, f7}

// watched are the watched words, each in a 64-byte line of its own.
var watched [8][8]uint64

var sink uint64

func open(attr *perfEventAttr) (int, error) {
	attr.Size = uint32(unsafe.Sizeof(*attr))
	// pid -1, CPU 0 (the guest's only one), no group, no flags.
	fd, _, errno := syscall.Syscall6(syscall.SYS_PERF_EVENT_OPEN, uintptr(unsafe.Pointer(attr)), ^uintptr(0), 0, ^uintptr(0), 0, 0)
	if errno != 0 {
		return -1, errno
	}
	return int(fd), nil
}

func count(fd int) uint64 {
	var b [8]byte
	if n, err := syscall.Read(fd, b[:]); err != nil || n != 8 {
		fail(fmt.Errorf("read of a counter: %d bytes, %v", n, err))
	}
	return binary.LittleEndian.Uint64(b[:])
}

func fail(err error) {
	fmt.Println("FERRY-HWBREAK BAD", err)
	os.Exit(1)
}

func main() {
	nbp := flag.Int("bp", 6, "breakpoints to set (at most 8)")
	nwp := flag.Int("wp", 4, "watchpoints to set (at most 8)")
	calls := flag.Int("calls", 1000, "hits of each, per round")
	flag.Parse()
	if *nbp < 0 || *nbp > len(funcs) || *nwp < 0 || *nwp > len(watched) || *calls <= 0 {
		fail(fmt.Errorf("-bp %d -wp %d -calls %d", *nbp, *nwp, *calls))
	}
	var fds []int
	for i := range *nbp {
		a := perfEventAttr{Type: perfTypeBreakpoint, Flags: excludeKernel | excludeHV, BPType: bpX,
			BPAddr: uint64(reflect.ValueOf(funcs[i]).Pointer()), BPLen: bpLen4}
		fd, err := open(&a)
		if err != nil {
			fail(fmt.Errorf("breakpoint %d: perf_event_open: %w", i, err))
		}
		fds = append(fds, fd)
	}
	for i := range *nwp {
		a := perfEventAttr{Type: perfTypeBreakpoint, Flags: excludeKernel | excludeHV, BPType: bpW,
			BPAddr: uint64(uintptr(unsafe.Pointer(&watched[i][0]))), BPLen: bpLen8}
		fd, err := open(&a)
		if err != nil {
			fail(fmt.Errorf("watchpoint %d: perf_event_open: %w", i, err))
		}
		fds = append(fds, fd)
	}
	fmt.Printf("FERRY-HWBREAK set bp=%d wp=%d\n", *nbp, *nwp)
	before := make([]uint64, len(fds))
	for n := 1; ; n++ {
		for i, fd := range fds {
			before[i] = count(fd)
		}
		for range *calls {
			for i := range *nbp {
				sink = funcs[i](sink)
			}
			for i := range *nwp {
				watched[i][0]++
			}
		}
		var hits uint64
		var bad []string
		for i, fd := range fds {
			d := count(fd) - before[i]
			hits += d
			if d < uint64(*calls) {
				name := fmt.Sprintf("bp%d", i)
				if i >= *nbp {
					name = fmt.Sprintf("wp%d", i-*nbp)
				}
				bad = append(bad, fmt.Sprintf("%s=%d", name, d))
			}
		}
		verdict := "OK"
		if len(bad) > 0 {
			verdict = "BAD " + strings.Join(bad, " ")
		}
		fmt.Printf("FERRY-HWBREAK n=%d hits=%d want=%d %s\n", n, hits, uint64(len(fds))*uint64(*calls), verdict)
		time.Sleep(time.Second)
	}
}
