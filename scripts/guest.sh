#!/usr/bin/env bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Builds Ferry's test guest from Debian packages (no other downloads):
#
#   build/guest/Image            uncompressed arm64 Linux Image (Debian 6.1 cloud kernel)
#   build/guest/initrd.cpio.gz   busybox initramfs (newc cpio, gzip) running guest/init
#   build/guest/kernel.version   the kernel release string, e.g. 6.1.0-37-cloud-arm64
#
# The arm64 .debs are fetched with `apt-get download` (never installed on the host)
# and unpacked with `dpkg-deb -x` under "$(os.UserCacheDir)/ferry/guest". Once that
# cache holds a kernel and busybox, later runs reuse them without touching apt or the
# network; FERRY_GUEST_REFRESH=1 forces `apt-get update` and a fresh resolution of the
# newest kernel. FERRY_GUEST_KABI=6.1.0-NN-cloud-arm64 pins a kernel ABI instead.
#
# Prints the three output paths on stdout; progress goes to stderr.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
out=$here/build/guest
modules_wanted=(virtio_mmio virtio_net)

# Applets guest/init and guest/workload.sh run: the build fails if busybox lacks one.
# Every other applet busybox-static has is linked as well, for guest.mode=shell.
applets_required=(
	sh mount mkdir echo cat sleep usleep md5sum dd date insmod poweroff seq head tr
	awk printf uname grep cut od hexdump wc rm cp mv ln setsid cttyhack test '[' true
	kill sync taskset mkfifo
)

log() { printf 'guest: %s\n' "$*" >&2; }
die() { printf 'guest: ERROR: %s\n' "$*" >&2; exit 1; }

. "$here/scripts/apt.sh"

cache=$cache_root/ferry/guest
mkdir -p "$cache/debs" "$out"

# One build at a time per cache (two concurrent runs would race on the unpacked trees).
exec 9>"$cache/.lock"
flock 9

# --- apt helpers (the rest are in scripts/apt.sh) ----------------------------------------

# Newest linux-image-6.1.0-NN-cloud-arm64 that has an arm64 candidate, or nothing.
resolve_kabi() {
	local name abi
	apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		sed -n 's/^linux-image-\(6\.1\.0-[0-9]\+-cloud-arm64\)$/\1/p' | sort -Vr |
		while read -r abi; do
			name=linux-image-$abi
			if candidate "$name:arm64" >/dev/null; then
				echo "$abi"
				break
			fi
		done
}

# dpkg-deb -x into $cache/<dir> (atomically, once).
unpack() {
	local deb=$1 dir=$cache/$2
	if [ ! -f "$dir/.complete" ]; then
		log "unpacking $(basename "$deb")"
		rm -rf "$dir" "$dir.tmp"
		mkdir -p "$dir.tmp"
		dpkg-deb -x "$deb" "$dir.tmp" || die "dpkg-deb -x $deb failed"
		touch "$dir.tmp/.complete"
		mv "$dir.tmp" "$dir"
	fi
}

fetch_all() {
	local kabi kdeb bbdeb bbver
	if [ -n "${FERRY_GUEST_KABI:-}" ]; then
		kabi=$FERRY_GUEST_KABI
		candidate "linux-image-$kabi:arm64" >/dev/null || apt_update
		candidate "linux-image-$kabi:arm64" >/dev/null ||
			die "apt-cache finds no linux-image-$kabi:arm64 (FERRY_GUEST_KABI); apt-get update failed or the arm64 lists lack it"
	else
		kabi=$(resolve_kabi) || kabi=
		if [ -z "$kabi" ]; then
			apt_update
			kabi=$(resolve_kabi) || kabi=
		fi
		[ -n "$kabi" ] || die "apt-cache finds no linux-image-6.1.0-*-cloud-arm64:arm64 (apt-get update failed or the arm64 lists lack it; check /etc/apt/sources.list* and the network to Debian's mirrors)"
	fi
	candidate busybox-static:arm64 >/dev/null || apt_update
	candidate busybox-static:arm64 >/dev/null ||
		die "apt-cache finds no busybox-static:arm64 (apt-get update failed or the arm64 lists lack it)"
	log "kernel: linux-image-$kabi:arm64 $(candidate "linux-image-$kabi:arm64" || echo '(no candidate)')"

	kdeb=$(fetch_deb "linux-image-$kabi:arm64" "$cache/debs")
	bbdeb=$(fetch_deb busybox-static:arm64 "$cache/debs")
	bbver=$(dpkg-deb -f "$bbdeb" Version)

	unpack "$kdeb" "kernel-$kabi"
	unpack "$bbdeb" "busybox-${bbver//:/_}"
	printf 'kabi=%s\nkernel_tree=%s\nbusybox_tree=%s\n' \
		"$kabi" "kernel-$kabi" "busybox-${bbver//:/_}" >"$cache/selected.tmp"
	mv "$cache/selected.tmp" "$cache/selected"
}

# --- fetch (or reuse) the packages ------------------------------------------------------

kabi= kernel_tree= busybox_tree=
if [ -z "${FERRY_GUEST_REFRESH:-}" ] && [ -f "$cache/selected" ]; then
	# shellcheck disable=SC1091
	. "$cache/selected"
	if [ -n "${FERRY_GUEST_KABI:-}" ] && [ "$FERRY_GUEST_KABI" != "$kabi" ]; then
		kabi=
	fi
fi
if [ -n "$kabi" ] && [ -f "$cache/$kernel_tree/.complete" ] && [ -f "$cache/$busybox_tree/.complete" ]; then
	log "using cached $kernel_tree and $busybox_tree from $cache"
else
	[ -z "${FERRY_GUEST_REFRESH:-}" ] || apt_update
	fetch_all
	# shellcheck disable=SC1091
	. "$cache/selected"
fi
ktree=$cache/$kernel_tree
bbtree=$cache/$busybox_tree

# --- kernel Image -----------------------------------------------------------------------

vmlinuz=$ktree/boot/vmlinuz-$kabi
[ -f "$vmlinuz" ] || die "$vmlinuz missing from the unpacked kernel package"
magic_at() { od -An -tx1 -j "$2" -N "$3" "$1" | tr -d ' \n'; }
tmpimg=$out/.Image.tmp
if [ "$(magic_at "$vmlinuz" 0 2)" = 1f8b ]; then
	log "$vmlinuz is gzip-compressed; decompressing"
	gzip -dc "$vmlinuz" >"$tmpimg"
else
	cp "$vmlinuz" "$tmpimg"
fi
# arm64 Image header: magic "ARM\x64" at offset 56 (Documentation/arch/arm64/booting.rst).
if [ "$(magic_at "$tmpimg" 56 4)" != 41524d64 ]; then
	rm -f "$tmpimg"
	die "$vmlinuz is not an arm64 Image (no ARM\\x64 magic at offset 56)"
fi
mv "$tmpimg" "$out/Image"
echo "$kabi" >"$out/kernel.version"

# --- modules: wanted ones plus their dependencies, in load order ------------------------
#
# Debian's package ships no modules.dep (depmod runs in postinst), so dependencies come
# from each module's own .modinfo "depends=" entry, as modinfo(8) would print them.

moddir=
for d in "$ktree/lib/modules/$kabi" "$ktree/usr/lib/modules/$kabi"; do
	[ -d "$d/kernel" ] && { moddir=$d; break; }
done
[ -n "$moddir" ] || die "no lib/modules/$kabi/kernel in $ktree"

modname() { local b=${1##*/}; b=${b%%.ko*}; echo "${b//-/_}"; }
modcat() {
	case $1 in
	*.ko) cat "$1" ;;
	*.ko.xz) xz -dc "$1" ;;
	*.ko.gz) gzip -dc "$1" ;;
	*.ko.zst) command -v zstd >/dev/null || die "$1 is zstd-compressed and zstd is not installed"
		zstd -qdc "$1" ;;
	*) die "unknown module format: $1" ;;
	esac
}
declare -A modpath seen
while IFS= read -r m; do
	b=${m##*/}
	b=${b%%.ko*}
	modpath[${b//-/_}]=$m
done < <(cd "$moddir" && find kernel -name '*.ko*')

load_order=()
visit() {
	local n=$1 d deps
	[ -z "${seen[$n]:-}" ] || return 0
	seen[$n]=1
	if [ -z "${modpath[$n]:-}" ]; then
		if grep -q "/$n\.ko" "$moddir/modules.builtin" 2>/dev/null; then
			log "$n is built into $kabi; nothing to load"
			return 0
		fi
		die "module $n is neither a module file nor in modules.builtin of $kabi"
	fi
	deps=$(modcat "$moddir/${modpath[$n]}" | tr '\0' '\n' |
		awk '/^depends=/ && !done { done = 1; print substr($0, 9) }')
	for d in ${deps//,/ }; do
		visit "$(modname "$d")"
	done
	load_order+=("$n")
}
for n in "${modules_wanted[@]}"; do
	visit "$n"
done

# --- initramfs staging ------------------------------------------------------------------

bb=$bbtree/bin/busybox
[ -f "$bb" ] || die "$bb missing from busybox-static"
# The applet table is a run of NUL-terminated, sorted names starting "[", "[[", ending
# with an empty string; the arm64 binary cannot run here, so read it from the file.
bbnames=$(tr '\0' '\n' <"$bb" | LC_ALL=C awk '
	done { next } # read on to the end: an early exit would SIGPIPE tr under pipefail
	on { if ($0 == "") done = 1; else print; next }
	prev == "[" && $0 == "[[" { on = 1; print "["; print; next }
	{ prev = $0 }')
[ -n "$bbnames" ] || die "cannot find the applet table in $bb"
stage=$out/staging
rm -rf "$stage"
mkdir -p "$stage"/{bin,sbin,usr/bin,usr/sbin,etc/ferry,proc,sys,dev,tmp,run,root,lib/modules/ferry}
cp "$bb" "$stage/bin/busybox"
chmod 755 "$stage/bin/busybox"
for a in "${applets_required[@]}"; do
	grep -qxF -- "$a" <<<"$bbnames" || die "busybox-static lacks the applet '$a' the guest scripts use"
done
while IFS= read -r a; do
	case $a in
	busybox | init | linuxrc | */*) ;; # /init is ours
	*) ln -s busybox "$stage/bin/$a" ;;
	esac
done <<<"$bbnames"

: >"$stage/etc/ferry/modules"
for n in "${load_order[@]}"; do
	# busybox insmod takes plain ELF: decompress here.
	modcat "$moddir/${modpath[$n]}" >"$stage/lib/modules/ferry/$n.ko"
	echo "/lib/modules/ferry/$n.ko" >>"$stage/etc/ferry/modules"
done
log "modules (load order): ${load_order[*]:-none}"

# The 32-bit test process (guest.mode=a32), the TCP echo service of the
# guest's own network (guest.ip=), the hostile NIC driver (guest.mode=dma)
# and the self-debugging process (guest.mode=hwbreak), cross-built by the
# host's Go.
(cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 go build -trimpath -ldflags=-s -o "$stage/bin/a32" ./guest/a32) ||
	die "building guest/a32 for GOARCH=arm failed"
(cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags=-s -o "$stage/bin/ferry-echo" ./guest/echo) ||
	die "building guest/echo for GOARCH=arm64 failed"
(cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags=-s -o "$stage/bin/ferry-dma" ./guest/dma) ||
	die "building guest/dma for GOARCH=arm64 failed"
(cd "$here" && CGO_ENABLED=0 GOOS=linux GOARCH=arm64 go build -trimpath -ldflags=-s -o "$stage/bin/ferry-hwbreak" ./guest/hwbreak) ||
	die "building guest/hwbreak for GOARCH=arm64 failed"
install -m 755 "$here/guest/init" "$stage/init"
install -m 755 "$here/guest/workload.sh" "$stage/etc/ferry/workload.sh"
echo "$kabi" >"$stage/etc/ferry/kernel.version"
# The kernel opens /dev/console for init before anything is mounted.
mknod -m 600 "$stage/dev/console" c 5 1 2>/dev/null || log "warning: cannot mknod dev/console (not root?); /init reopens it after mounting devtmpfs"
mknod -m 666 "$stage/dev/null" c 1 3 2>/dev/null || true

# --- cpio -------------------------------------------------------------------------------

if ! command -v cpio >/dev/null 2>&1; then
	log "installing cpio (host)"
	as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q cpio >&2 || die "apt-get install cpio failed"
fi
(cd "$stage" && find . -mindepth 1 | LC_ALL=C sort | cpio --quiet -o -H newc -R 0:0) |
	gzip -9n >"$out/.initrd.tmp"
mv "$out/.initrd.tmp" "$out/initrd.cpio.gz"

log "kernel $kabi, busybox $(basename "$bbtree"), initrd $(du -k "$out/initrd.cpio.gz" | cut -f1) KiB"
echo "$out/Image"
echo "$out/initrd.cpio.gz"
echo "$out/kernel.version"
