// Copyright (c) 2026 The Ferry Authors. All rights reserved.
// Use of this source code is governed by a BSD-style licence that can be
// found in the LICENSE file.

//go:build ignore

// Command usercachedir prints os.UserCacheDir, the root under which Ferry caches
// its toolchain and guest downloads (the same place `go tool tamago` looks).
package main

import (
	"fmt"
	"os"
)

func main() {
	d, err := os.UserCacheDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(d)
}
