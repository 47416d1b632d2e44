# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.

# shellcheck shell=bash
# Debian-package helpers shared by scripts/guest.sh and scripts/dtbs.sh: the
# arm64 .debs Ferry's tests use are fetched with `apt-get download` (never
# installed on the host), after adding the arm64 foreign architecture once.
#
# Source it after defining log and die; it sets cache_root to
# "$(os.UserCacheDir)" (scripts/usercachedir.go, else $XDG_CACHE_HOME or
# ~/.cache) and defines as_root, apt_update, candidate and fetch_deb.

cache_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && go run scripts/usercachedir.go 2>/dev/null) ||
	cache_root=${XDG_CACHE_HOME:-$HOME/.cache}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	elif command -v sudo >/dev/null 2>&1; then
		sudo "$@"
	else
		die "need root for: $*"
	fi
}

apt_opts=(-o APT::Sandbox::User="$(id -un)")
updated=0

apt_update() {
	[ "$updated" -eq 0 ] || return 0
	updated=1
	if ! dpkg --print-foreign-architectures | grep -qx arm64; then
		log "adding dpkg foreign architecture arm64 (only for apt-get download; nothing is installed)"
		as_root dpkg --add-architecture arm64 || die "dpkg --add-architecture arm64 failed"
	fi
	log "apt-get update (arm64 package lists)"
	# Third-party sources may be unreachable; carry on as long as Debian's lists arrive,
	# and let the resolution below decide whether that was enough.
	if ! as_root apt-get update >&2; then
		log "warning: apt-get update reported errors; trying with whatever lists it fetched"
	fi
}

# Candidate version of pkg:arch, failing if there is none.
candidate() {
	local v
	v=$(apt-cache policy "$1" 2>/dev/null | sed -n 's/^ *Candidate: *//p' | head -n1)
	[ -n "$v" ] && [ "$v" != "(none)" ] || return 1
	echo "$v"
}

# apt-get download pkg:arm64 into dir; prints the .deb path.
download() {
	local pkg=$1 dir=$2 ver file
	ver=$(candidate "$pkg") || die "apt has no candidate for $pkg"
	file=$dir/${pkg%%:*}_${ver//:/%3a}_arm64.deb
	if [ ! -s "$file" ]; then
		log "apt-get download $pkg ($ver)"
		local tmp
		mkdir -p "$dir"
		tmp=$(mktemp -d "$dir/.dl.XXXXXX")
		if ! (cd "$tmp" && apt-get "${apt_opts[@]}" download "$pkg=$ver" >&2); then
			rm -rf "$tmp"
			return 1
		fi
		local got=("$tmp"/*.deb)
		[ -f "${got[0]}" ] || { rm -rf "$tmp"; die "apt-get download $pkg left no .deb"; }
		mv "${got[0]}" "$file"
		rm -rf "$tmp"
	fi
	echo "$file"
}

# fetch_deb pkg:arm64 dir: download, and if a stale list names a version the
# mirror no longer has, update once and retry; prints the .deb path.
fetch_deb() {
	download "$1" "$2" ||
		{ apt_update; download "$1" "$2"; } ||
		die "apt-get download $1 failed (see the apt output above)"
}
