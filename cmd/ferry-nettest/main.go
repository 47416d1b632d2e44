// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build tamago && arm64

// Command ferry-nettest is a test image for Ferry's management network: it
// boots like Ferry (package boot/virt), brings the management network up
// from the board's command line (package mgmt) and measures TCP throughput
// against a second board over QEMU's socket netdev. It runs no guest.
//
// Words on the command line (QEMU -append), besides Ferry's ferry.ip=,
// ferry.mac= and ferry.mtu= (package boot/config parses them all):
//
//	ferry.nettest=server[,N]      sink on port 7100: count bytes, print the
//	                              throughput every second, answer each
//	                              connection's end with its byte count;
//	                              power off after N connections (default: never)
//	ferry.nettest=client,<addr>   connect to <addr>:7100, send, print the
//	                              throughput, power off
//	ferry.nettest=cpu             print the copy and checksum speed of this
//	                              CPU, whether Go uses its AES/SHA2/CRC32
//	                              instructions, and the speed of AES-GCM,
//	                              SHA-256, CRC32C, MD5 and TLS 1.3 (no
//	                              network), power off
//	ferry.nettest.mib=<n>         client: MiB to send (default 64)
//	ferry.nettest.idle=<duration> the poller sleeps this long when a Poll
//	                              finds nothing (default: it only yields)
//	ferry.nettest.sndbuf=<bytes>  TCP tuning (mgmt.TCPTuning), both roles
//	ferry.nettest.rcvbuf=<bytes>
//	ferry.nettest.sack=0|1
//	ferry.nettest.moderate=0|1
//	ferry.nettest.cc=cubic|reno
//	ferry.nettest.trustcsum=0|1
package main

import (
	"fmt"
	"github.com/ferry-hv/ferry/boot/config"
	"runtime"
	"time"

	"github.com/ferry-hv/ferry/boot/el2"
	_ "github.com/ferry-hv/ferry/boot/virt" // the board: brings the runtime up
	"github.com/ferry-hv/ferry/net/mgmt"
)

// port is the sink's TCP port.
const port = 7100

func logf(format string, args ...any) {
	fmt.Printf("nettest: "+format+"\n", args...)
}

func main() {
	if err := run(); err != nil {
		logf("FATAL: %v", err)
	}
	el2.PowerOff()
}

func run() error {
	b := el2.Board()
	c, err := config.Parse(b.Bootargs, "nettest")
	if err != nil {
		return err
	}
	opt, err := parseOptions(c.Extra)
	if err != nil {
		return err
	}
	if opt.role == "cpu" {
		cpuBench()
		return nil
	}
	if !c.IP.IsValid() {
		return fmt.Errorf("no ferry.ip=<addr>/<prefix> on the command line %q", b.Bootargs)
	}
	cfg := mgmt.Config{Transports: b.Virtio, Addr: c.IP, MAC: c.MAC, MTU: c.MTU, TCP: &opt.tcp}
	start := time.Now()
	n, err := mgmt.Up(cfg)
	if err != nil {
		return err
	}
	tr := n.Transport()
	logf("up in %v: %v; Ferry keeps %s %v; TCP %+v", time.Since(start).Round(time.Microsecond), n, tr.Path, tr.Reg, opt.tcp)
	go poll(n, opt.idle)

	switch opt.role {
	case "server":
		return serve(n, opt)
	default:
		return client(n, opt)
	}
}

// poll is the hypervisor's poll goroutine: Poll while traffic flows, let
// the other goroutines (the stack's, the test's) run when idle, and with
// idle > 0 sleep that long when a Poll finds nothing (as cmd/ferry does).
func poll(n *mgmt.Net, idle time.Duration) {
	for {
		if n.Poll() {
			runtime.Gosched()
		} else if idle > 0 {
			time.Sleep(idle)
		} else {
			runtime.Gosched()
		}
	}
}

func describe(s mgmt.Stats) string {
	return fmt.Sprintf("frames in %d out %d, bytes in %d out %d, drops in %d out %d, notifies rx %d tx %d, TCP segments out %d, retransmits %d (timeouts %d, spurious %d, fast %d), checksum errors %d",
		s.RxFrames, s.TxFrames, s.RxBytes, s.TxBytes, s.RxDrops, s.TxDrops, s.RxNotifies, s.TxNotifies, s.TCPSegmentsSent, s.TCPRetransmits, s.TCPTimeouts, s.TCPSpuriousRTO, s.TCPFastRetransmits, s.TCPChecksumErrors)
}

func mibps(bytes int64, d time.Duration) string {
	r := float64(bytes) / d.Seconds()
	return fmt.Sprintf("%.2f MiB/s (%.1f Mbit/s)", r/(1<<20), r*8/1e6)
}
