// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

// Command echo is the test guest's TCP service on its own network (the
// data NIC, guest.ip=): listening on that address only (-listen), it
// sends back every byte it receives, on every connection, until the peer
// closes. It prints
//
//	FERRY-ECHO up port=<port>
//
// once listening, and FERRY-ECHO closed peer=<addr> bytes=<n> for each
// connection. Built for the guest (GOARCH=arm64) by scripts/guest.sh.
package main

import (
	"flag"
	"fmt"
	"io"
	"net"
	"os"
)

func main() {
	listen := flag.String("listen", "", "the guest's `address:port` on its own network")
	flag.Parse()
	host, port, err := net.SplitHostPort(*listen)
	if err == nil && net.ParseIP(host) == nil {
		err = fmt.Errorf("%q is not an IP address", host)
	}
	if err != nil {
		fmt.Println("FERRY-ECHO BAD -listen:", err)
		os.Exit(1)
	}
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Println("FERRY-ECHO BAD", err)
		os.Exit(1)
	}
	fmt.Printf("FERRY-ECHO up port=%s\n", port)
	for {
		c, err := l.Accept()
		if err != nil {
			fmt.Println("FERRY-ECHO BAD accept:", err)
			os.Exit(1)
		}
		go func() {
			n, err := io.Copy(c, c)
			c.Close()
			if err != nil {
				fmt.Printf("FERRY-ECHO closed peer=%v bytes=%d err=%v\n", c.RemoteAddr(), n, err)
				return
			}
			fmt.Printf("FERRY-ECHO closed peer=%v bytes=%d\n", c.RemoteAddr(), n)
		}()
	}
}
