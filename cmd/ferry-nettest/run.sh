#!/bin/bash
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Two QEMU virt boards running build/nettest.elf, linked only by QEMU's
# socket netdev over 127.0.0.1 (no user-mode networking, nothing else bound):
# board A (server, 10.77.0.11) listens, board B (client, 10.77.0.12) connects
# and sends. Prints the client's RESULT line.
#
#   cmd/ferry-nettest/run.sh [MTU] [MiB] [extra ferry.nettest.* words...]
#
# Build the image first:
#   GOOS=tamago GOARCH=arm64 GOOSPKG=github.com/usbarmory/tamago $(bash scripts/toolchain.sh) build -trimpath \
#     -ldflags "-T 0x40200000 -R 0x1000" -o build/nettest.elf ./cmd/ferry-nettest
set -euo pipefail
MTU=${1:-0}
MIB=${2:-64}
shift $(( $# > 2 ? 2 : $# ))
EXTRA="$*"
PORT=${PORT:-$((47000 + RANDOM % 1000))}
IMG=${IMG:-build/nettest.elf}
LOG=${LOG:-build/nettest}   # logs: $LOG-server.log, $LOG-client.log
mkdir -p "$(dirname "$LOG")"
mtuword=""
[ "$MTU" != 0 ] && mtuword="ferry.mtu=$MTU"

board() { # name mac netdev append
	qemu-system-aarch64 -M virt,virtualization=on,gic-version=3 -cpu max,pauth-impdef=on -m 512M \
		-nodefaults -nic none -display none -monitor none -serial stdio \
		-global virtio-mmio.force-legacy=false \
		-netdev "$3" -device virtio-net-device,netdev=m,mac="$2" \
		-kernel "$IMG" -append "$4"
}

board server 52:54:00:77:00:11 "socket,id=m,listen=127.0.0.1:$PORT" \
	"ferry.ip=10.77.0.11/24 $mtuword ferry.nettest=server,1 $EXTRA" >"$LOG-server.log" 2>&1 &
server=$!
sleep 1
timeout 600 bash -c "$(declare -f board); IMG=$IMG board client 52:54:00:77:00:12 socket,id=m,connect=127.0.0.1:$PORT \
	'ferry.ip=10.77.0.12/24 $mtuword ferry.nettest=client,10.77.0.11 ferry.nettest.mib=$MIB $EXTRA'" >"$LOG-client.log" 2>&1 || true
for _ in $(seq 50); do kill -0 $server 2>/dev/null || break; sleep 0.2; done
kill $server 2>/dev/null || true
wait $server 2>/dev/null || true
grep -h 'RESULT\|FATAL' "$LOG-client.log" "$LOG-server.log" || { echo "no result; see $LOG-*.log"; exit 1; }
