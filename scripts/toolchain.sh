#!/usr/bin/env bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Provisions the TamaGo Go distribution that builds Ferry's image, offline when it can.
#
# Ferry's distribution is tamago-go with scripts/tamago-go-*.patch applied,
# in name order (docs/decisions.md gives each one's reasons):
#   - tamago-go-cpu.patch: internal/cpu reads ID_AA64ISAR0_EL1/ID_AA64PFR0_EL1,
#     so Go's crypto and hash/crc32 use the ARMv8 AES/PMULL/SHA2/CRC32
#     instructions;
#   - tamago-go-smp.patch: the runtime's hooks for Ms on several CPUs (an M
#     that waits hands its CPU on; a raised semaphore and a preemption
#     request wake the CPU that carries the M).
# It lives in $(os.UserCacheDir)/tamago-go/$TAG-ferry-<patch id>, where the
# patch id is the first 12 hex digits of the SHA-256 of the patches one
# after the other, and the tree holds a stamp file (.ferry-patch) with that
# id. An unpatched tree, or one built with other patches, is never taken
# for it.
#
# TAMAGO_CPU_PATCH=0 selects the unpatched distribution instead, in
# $(os.UserCacheDir)/tamago-go/$TAG (where `go tool tamago` puts it), for
# comparisons: under QEMU TCG the CPU patch makes TLS 1.3 and CRC32C slower
# (docs/decisions.md has the figures). Without the SMP patch Ferry runs on
# the boot CPU only.
#
# Order of preference:
#   1. The patched distribution already built, stamp matching: nothing to do.
#   2. A source tarball ($TAMAGO_TARBALL, else ../shared/toolchain/$TAG.tar.gz):
#      unpack it, apply the patch, build it with the host Go as bootstrap.
#   3. Neither: `go tool tamago` clones and builds the unpatched distribution
#      into $(os.UserCacheDir)/tamago-go/$TAG (needs the internet; it cannot
#      apply a patch), then its source is copied, patched and built again.
# Prints the path of the distribution's go binary on stdout, logs on stderr.
set -euo pipefail

TAG=${TAMAGO_TAG:-tamago-go1.26.0}
here=$(cd "$(dirname "$0")/.." && pwd)
cache=$(go run "$here/scripts/usercachedir.go")
patches=("$here"/scripts/tamago-go-*.patch)
pid=$(cat "${patches[@]}" | sha256sum | cut -c1-12)
root="$cache/tamago-go/$TAG-ferry-$pid"
stamp="$root/.ferry-patch"
plain="$cache/tamago-go/$TAG" # where `go tool tamago` puts the unpatched distribution
tarball=${TAMAGO_TARBALL:-$here/../shared/toolchain/$TAG.tar.gz}

if [ "${TAMAGO_CPU_PATCH:-1}" = 0 ]; then
	echo "toolchain: TAMAGO_CPU_PATCH=0: the unpatched $TAG (Go's crypto and hash/crc32 see no CPU features)" >&2
	root=$plain stamp=/dev/null pid=
fi
with=${pid:+ with $(cd "$here/scripts" && echo tamago-go-*.patch) ($pid)}

ready() { [ -x "$root/bin/go" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$pid" ]; }

if ready; then
	echo "$root/bin/go"
	exit 0
fi

# One build at a time: a second caller waits, then finds the tree ready.
mkdir -p "$cache/tamago-go"
exec 9>"$cache/tamago-go/.lock"
flock 9
if ready; then
	echo "$root/bin/go"
	exit 0
fi

tmp=$(mktemp -d "$cache/tamago-go/.build.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
if [ -f "$tarball" ]; then
	echo "toolchain: building $TAG from $tarball$with into $root (a few minutes)" >&2
	tar -xzf "$tarball" -C "$tmp"
	[ -d "$tmp/$TAG/src" ] || { echo "toolchain: $tarball does not hold $TAG/src" >&2; exit 1; }
else
	echo "toolchain: no $tarball; letting 'go tool tamago' fetch $TAG (it cannot apply Ferry's patches; they are applied to a copy afterwards)" >&2
	(cd "$here" && go tool tamago version >&2)
	[ -d "$plain/src" ] || { echo "toolchain: 'go tool tamago' did not leave $plain/src" >&2; exit 1; }
	if [ -z "$pid" ]; then
		ready || { echo "toolchain: 'go tool tamago' did not leave $root/bin/go" >&2; exit 1; }
		echo "$root/bin/go"
		exit 0
	fi
	echo "toolchain: building $TAG from a copy of $plain$with into $root (a few minutes)" >&2
	cp -a "$plain" "$tmp/$TAG"
fi
if [ -n "$pid" ]; then
	for patchfile in "${patches[@]}"; do
		(cd "$tmp/$TAG" && patch -p1 --forward --batch <"$patchfile" >&2) ||
			{ echo "toolchain: $(basename "$patchfile") does not apply to $TAG" >&2; exit 1; }
	done
fi
(cd "$tmp/$TAG/src" && GOROOT_BOOTSTRAP=$(go env GOROOT) ./make.bash >&2)
[ -z "$pid" ] || echo "$pid" >"$tmp/$TAG/.ferry-patch"
# The tree is built in place and moved as a whole, so a half-built tree is never seen.
rm -rf "$root"
mv "$tmp/$TAG" "$root"
echo "$root/bin/go"
