#!/usr/bin/env bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Runs every fuzz target of the project for FUZZTIME each (default 10s):
# the decoders of everything that comes from the wire or the firmware, and
# the page-table builder.
set -euo pipefail
cd "$(dirname "$0")/.."
t=${FUZZTIME:-10s}
grep -rl --include='*_test.go' '^func Fuzz' . | sort | while read -r f; do
	pkg=./$(dirname "${f#./}")
	for fn in $(grep -o '^func Fuzz[A-Za-z0-9]*' "$f" | cut -d' ' -f2); do
		echo "== $pkg $fn ($t)"
		extra=()
		case $fn in FuzzReceive | FuzzReceiveDigest) extra=(-fuzzminimizetime 2s) ;; esac
		go test -run '^$' -fuzz "^$fn\$" -fuzztime "$t" "${extra[@]}" "$pkg"
	done
done
