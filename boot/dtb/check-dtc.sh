#!/bin/sh
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Hand check (not part of go test): write the DTBs TestApply produces and
# make dtc decode them, then show how each differs from the firmware's DTB.
# Needs dtc (apt-get install -y device-tree-compiler).
set -eu
cd "$(dirname "$0")"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go test -count=1 -run '^TestApply$' . -args -dtb.out="$out" >/dev/null
for f in testdata/*.dtb; do
	p="$out/patched-$(basename "$f")"
	# -f would hide errors; dtc must accept the blob as is. Warnings are
	# printed but only errors fail.
	dtc -q -I dtb -O dts -o "$out/orig.dts" "$f"
	dtc -I dtb -O dts -o "$out/patched.dts" "$p"
	# And back to a blob: dtc's own writer must accept the tree.
	dtc -q -I dts -O dtb -o /dev/null "$out/patched.dts"
	echo "== $(basename "$f"): $(wc -c <"$p") bytes, dtc OK"
	diff -u "$out/orig.dts" "$out/patched.dts" || true
done
