#!/usr/bin/env bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Fetches the board device trees Debian's generic arm64 kernel ships, for the
# host test that runs Ferry's machine description over every one of them
# (hyp/boards_test.go, docs/boards.md):
#
#   $(os.UserCacheDir)/ferry/dtbs/<kernel ABI>/<vendor>/<board>.dtb
#
# The kernel is the one Debian's linux-image-arm64 depends on
# (linux-image-6.1.0-NN-arm64); its .deb is fetched with `apt-get download`
# (scripts/apt.sh, never installed), only usr/lib/linux-image-*/ is unpacked,
# and the .deb is deleted. Once the cache holds a tree, later runs reuse it
# without touching apt or the network; FERRY_DTBS_REFRESH=1 resolves the
# newest kernel again.
#
# Prints the tree's path on stdout (what the Makefile passes the tests as
# FERRY_DTBS); progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
log() { printf 'dtbs: %s\n' "$*" >&2; }
die() { printf 'dtbs: ERROR: %s\n' "$*" >&2; exit 1; }
. "$here/scripts/apt.sh"

cache=$cache_root/ferry/dtbs
mkdir -p "$cache"
exec 9>"$cache/.lock"
flock 9

kabi=
if [ -z "${FERRY_DTBS_REFRESH:-}" ] && [ -f "$cache/selected" ]; then
	kabi=$(cat "$cache/selected")
fi
if [ -n "$kabi" ] && [ -f "$cache/$kabi/.complete" ]; then
	log "using cached $cache/$kabi"
	echo "$cache/$kabi"
	exit 0
fi

# The ABI linux-image-arm64 depends on, e.g. 6.1.0-57-arm64.
resolve() {
	apt-cache depends linux-image-arm64:arm64 2>/dev/null |
		sed -n 's/^ *Depends: linux-image-\(6\.1\.0-[0-9]\+-arm64\)\(:arm64\)\?$/\1/p' | head -n1
}
[ -z "${FERRY_DTBS_REFRESH:-}" ] || apt_update
kabi=$(resolve)
if [ -z "$kabi" ]; then
	apt_update
	kabi=$(resolve)
fi
[ -n "$kabi" ] || die "apt-cache finds no linux-image-arm64:arm64 depending on a linux-image-6.1.0-NN-arm64 (apt-get update failed or the arm64 lists lack it; check /etc/apt/sources.list* and the network to Debian's mirrors)"

dir=$cache/$kabi
if [ ! -f "$dir/.complete" ]; then
	deb=$(fetch_deb "linux-image-$kabi:arm64" "$cache/debs")
	log "unpacking the device trees of $(basename "$deb")"
	rm -rf "$dir" "$dir.tmp"
	mkdir -p "$dir.tmp/x"
	dpkg-deb --fsys-tarfile "$deb" | tar -x -C "$dir.tmp/x" --wildcards './usr/lib/linux-image-*/*' ||
		die "no usr/lib/linux-image-*/ in $deb"
	src=("$dir.tmp"/x/usr/lib/linux-image-*)
	[ -d "${src[0]}" ] || die "no usr/lib/linux-image-*/ in $deb"
	mv "${src[0]}"/* "$dir.tmp/"
	rm -rf "$dir.tmp/x" "$deb"
	n=$(find "$dir.tmp" -name '*.dtb' | wc -l)
	[ "$n" -gt 0 ] || die "$deb holds no .dtb"
	log "$n device trees of $kabi"
	touch "$dir.tmp/.complete"
	mv "$dir.tmp" "$dir"
fi
echo "$kabi" >"$cache/selected.tmp"
mv "$cache/selected.tmp" "$cache/selected"
echo "$dir"
