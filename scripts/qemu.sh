#!/usr/bin/env bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Makes sure qemu-system-aarch64 (Debian package qemu-system-arm) is here:
# installs it with apt-get when running as root, else says what to do.
set -euo pipefail
if command -v qemu-system-aarch64 >/dev/null 2>&1; then
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "qemu: qemu-system-aarch64 is missing; install it as root: apt-get install qemu-system-arm" >&2
	exit 1
fi
echo "qemu: installing qemu-system-arm with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get install -y --no-install-recommends qemu-system-arm >&2 ||
	{ apt-get update >&2 && apt-get install -y --no-install-recommends qemu-system-arm >&2; }
command -v qemu-system-aarch64 >/dev/null || { echo "qemu: install failed" >&2; exit 1; }
