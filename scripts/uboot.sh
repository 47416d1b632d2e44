#!/usr/bin/env bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Makes sure U-Boot for QEMU's virt board is here (Debian package
# u-boot-qemu: /usr/lib/u-boot/qemu_arm64/u-boot.bin, which the system test
# TestUBootBooti boots Ferry's Image with): installs it with apt-get when
# running as root, else says what to do.
set -euo pipefail
bin=/usr/lib/u-boot/qemu_arm64/u-boot.bin
if [ -f "$bin" ]; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "uboot: $bin is missing; install it as root: apt-get install u-boot-qemu" >&2
	exit 1
fi
echo "uboot: installing u-boot-qemu with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends u-boot-qemu >&2 ||
	{ apt-get update >&2 && apt-get install -y --no-install-recommends u-boot-qemu >&2; }
[ -f "$bin" ] || { echo "uboot: install failed: no $bin" >&2; exit 1; }
