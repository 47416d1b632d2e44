// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command ferry-switch runs the management link's Ethernet switch on the
// host (package l2switch): QEMU boards and ferryctl connect to it on a
// loopback TCP port, each connection one switch port.
//
//	ferry-switch -listen 127.0.0.1:7777
//
// A board joins with
//
//	-netdev socket,id=m,connect=127.0.0.1:7777 -device virtio-net-device,netdev=m,mac=52:54:00:77:00:11
//
// Per-port statistics are printed to stdout on SIGUSR1 and at exit
// (SIGINT, SIGTERM). It refuses to listen on anything but 127.0.0.1.
package main

import (
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/ferry-hv/ferry/internal/l2switch"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7777", "`address` on 127.0.0.1 to accept switch ports on")
	queue := flag.Int("queue", l2switch.DefaultQueueLen, "output queue length per port, in `frames`; frames to a full queue are dropped")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: ferry-switch [-listen 127.0.0.1:7777] [-queue N]\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	log.SetFlags(log.LstdFlags | log.Lmicroseconds)
	log.SetPrefix("ferry-switch: ")
	if err := l2switch.CheckLoopback(*listen); err != nil {
		log.Fatalf("-listen %s: %v; the switch must only be reachable from this host", *listen, err)
	}
	if *queue <= 0 {
		log.Fatalf("-queue %d: must be positive", *queue)
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGUSR1, syscall.SIGINT, syscall.SIGTERM)
	sw := l2switch.New(l2switch.Config{QueueLen: *queue, Logf: log.Printf})
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("listen on %s: %v", *listen, err)
	}
	log.Printf("listening on %s", l.Addr())
	served := make(chan error, 1)
	go func() { served <- sw.Serve(l) }()
	for {
		select {
		case s := <-sigs:
			if s == syscall.SIGUSR1 {
				sw.Stats().Write(os.Stdout)
				continue
			}
			log.Printf("%v: stopping", s)
			sw.Close()
			sw.Stats().Write(os.Stdout)
			return
		case err := <-served:
			sw.Close()
			sw.Stats().Write(os.Stdout)
			if err != nil {
				log.Fatal(err)
			}
			return
		}
	}
}
