#!/bin/sh
# Copyright (c) 2026 The Ferry Authors. All rights reserved.
# Use of this source code is governed by a BSD-style licence that can be
# found in the LICENSE file.
# Ferry test guest workload (busybox ash), run by /init with FERRY_ID set.
# The mode comes from guest.mode= on the kernel command line. See guest/README.md.

id=${FERRY_ID:-00000000}
cmdline=$(cat /proc/cmdline)

# param NAME DEFAULT: the value of NAME= on the kernel command line (last one wins).
param() {
	_v=$2
	for _w in $cmdline; do
		case $_w in
		"$1"=*) _v=${_w#*=} ;;
		esac
	done
	echo "$_v"
}

# num_param NAME DEFAULT: like param, but a positive integer (else DEFAULT, with a warning).
num_param() {
	_v=$(param "$1" "$2")
	case $_v in
	'' | *[!0-9]* | 0 | 0*)
		echo "FERRY-GUEST: warning: $1=$_v is not a positive integer; using $2" >&2
		_v=$2
		;;
	esac
	echo "$_v"
}

# now_ms: sets ms to the uptime in milliseconds (/proc/uptime has centiseconds).
now_ms() {
	read -r _up _ </proc/uptime
	ms=$((${_up%.*} * 1000 + (1${_up#*.} - 100) * 10))
}

# make_file PATH MB TAG: PATH gets MB MiB of deterministic text derived from TAG.
# Each MiB is a 64-byte header naming TAG and the block number, then a 1 MiB - 64 byte
# block of 64-byte lines built once with awk, so the fill is cheap even under TCG.
make_file() {
	awk -v tag="$3" 'BEGIN {
		for (i = 0; i < 16383; i++)
			printf "%-63s\n", sprintf("FERRY-DATA %s line=%05d x=%08d", tag, i, (i * 2654435761 + 12345) % 100000000)
	}' >"$1.blk"
	_i=0
	while [ "$_i" -lt "$2" ]; do
		printf '%-63s\n' "FERRY-BLOCK $3 block=$_i"
		cat "$1.blk"
		_i=$((_i + 1))
	done >"$1"
	rm -f "$1.blk"
}

md5_of() {
	set -- $(md5sum "$1")
	echo "$1"
}

pattern_check() {
	if [ "$(md5_of /tmp/pattern)" = "$pattern_md5" ]; then
		echo "FERRY-PATTERN-CHECK id=$id n=$1 OK"
	else
		echo "FERRY-PATTERN-CHECK id=$id n=$1 BAD"
	fi
}

# counter [check]: a line a second forever; with "check", every 5th count also
# re-hashes /tmp/pattern. The hash runs in the background so the counter keeps its
# cadence, but at most one runs at a time.
counter() {
	n=0
	chk=
	while :; do
		n=$((n + 1))
		read -r _up _ </proc/uptime
		echo "FERRY-COUNTER id=$id n=$n t=$_up wall=$(date +%s)"
		if [ "$1" = check ] && [ $((n % 5)) -eq 0 ]; then
			[ -z "$chk" ] || wait "$chk"
			pattern_check "$n" &
			chk=$!
		fi
		sleep 1
	done
}

# heartbeat: "FERRY-HB <k> t=<uptime>" about every 10 ms, forever. t is the guest's
# own clock (centiseconds); hosts time the gaps by the lines' arrival.
heartbeat() {
	k=0
	if [ -x /bin/usleep ]; then
		while :; do
			k=$((k + 1))
			read -r _up _ </proc/uptime
			echo "FERRY-HB $k t=$_up"
			usleep 10000
		done
	else
		while :; do
			k=$((k + 1))
			read -r _up _ </proc/uptime
			echo "FERRY-HB $k t=$_up"
			sleep 0.01
		done
	fi
}

# dirtier MB RATE: keeps rewriting /tmp/dirty (MB MiB of tmpfs), one MiB at a time,
# paced to RATE MiB/s (a rate above what the guest can do runs flat out). Pass p
# writes every MiB from /tmp/dirty.src<p mod 2> (two different 1 MiB blocks), so every
# page changes on every pass; after each pass the region's md5 is compared with the
# one it must have (computed at the start), and a page lost by a migration shows as
#   FERRY-DIRTY-CHECK id=<id> n=<pass> BAD
# About once a second it prints the rate achieved since the last line (writing time
# only: the check is left out), so a host can see the guest slow down:
#   FERRY-DIRTY id=<id> rate=<MiB/s, 1 decimal> n=<line> mib=<MiB written> t=<uptime>
dirtier() {
	_mb=$1
	_rate=$2
	make_file /tmp/dirty.src0 1 "id=$id dirty=0"
	make_file /tmp/dirty.src1 1 "id=$id dirty=1"
	for _k in 1 0; do
		_i=0
		while [ "$_i" -lt "$_mb" ]; do
			cat /tmp/dirty.src$_k
			_i=$((_i + 1))
		done >/tmp/dirty 2>/dev/null
		if [ "$(wc -c </tmp/dirty)" -ne $((_mb * 1048576)) ]; then
			echo "FERRY-GUEST: warning: no room for a $_mb MiB dirty region in /tmp; not dirtying"
			rm -f /tmp/dirty /tmp/dirty.src0 /tmp/dirty.src1
			return 0
		fi
		eval "_sum$_k=\$(md5_of /tmp/dirty)"
	done
	echo "FERRY-DIRTY-READY id=$id mb=$_mb rate=$_rate md5_0=$_sum0 md5_1=$_sum1"
	_pass=0 # passes done; the region holds src<_pass mod 2>
	_line=0
	_total=0
	now_ms
	_ps=$ms # start of the period
	_pw=0   # MiB written in the period
	while :; do
		_pass=$((_pass + 1))
		_k=$((_pass % 2))
		_i=0
		while [ "$_i" -lt "$_mb" ]; do
			dd if=/tmp/dirty.src$_k of=/tmp/dirty bs=1048576 seek=$_i count=1 conv=notrunc 2>/dev/null
			_i=$((_i + 1))
			_pw=$((_pw + 1))
			_total=$((_total + 1))
			now_ms
			_due=$((_ps + _pw * 1000 / _rate))
			if [ "$_due" -gt "$ms" ]; then
				usleep $(((_due - ms) * 1000))
				now_ms
			fi
			if [ $((ms - _ps)) -ge 1000 ]; then
				_line=$((_line + 1))
				_r=$((_pw * 10000 / (ms - _ps)))
				echo "FERRY-DIRTY id=$id rate=$((_r / 10)).$((_r % 10)) n=$_line mib=$_total t=$_up"
				_ps=$ms
				_pw=0
			fi
		done
		_t0=$ms
		eval "_want=\$_sum$_k"
		if [ "$(md5_of /tmp/dirty)" = "$_want" ]; then
			echo "FERRY-DIRTY-CHECK id=$id n=$_pass OK"
		else
			echo "FERRY-DIRTY-CHECK id=$id n=$_pass BAD"
		fi
		now_ms
		_ps=$((_ps + ms - _t0))
	done
}

mode_counter() {
	counter
}

mode_migrate() {
	mb=$(num_param guest.pattern_mb 64)
	now_ms
	t0=$ms
	make_file /tmp/pattern "$mb" "id=$id"
	pattern_md5=$(md5_of /tmp/pattern)
	now_ms
	echo "FERRY-PATTERN id=$id md5=$pattern_md5 mb=$mb"
	echo "FERRY-GUEST: pattern fill+hash took $((ms - t0)) ms"
	if [ "$(param guest.hb 0)" = 1 ]; then
		heartbeat &
	fi
	dmb=$(param guest.dirty_mb 0)
	case $dmb in
	'' | *[!0-9]*)
		echo "FERRY-GUEST: warning: guest.dirty_mb=$dmb is not a number; not dirtying" >&2
		dmb=0
		;;
	esac
	if [ "$dmb" -gt 0 ]; then
		dirtier "$dmb" "$(num_param guest.dirty_rate 8)" &
	fi
	counter check
}

# bench_one TAG ITERS MB ROUNDS: the benchmark's body on this CPU -- (a)
# shell arithmetic, (b) md5 of a deterministic file (its content does not
# depend on the boot, so the sum is the same on every run: a cheap
# correctness check of the CPU) -- printing "loop_ms md5_ms loop_sum md5
# rounds_agree".
bench_one() {
	now_ms
	t0=$ms
	i=0
	s=0
	while [ $i -lt "$2" ]; do
		i=$((i + 1))
		s=$(((s + i * i) % 1000003))
	done
	now_ms
	loop_ms=$((ms - t0))

	make_file "/tmp/bench$1" "$3" bench
	now_ms
	t0=$ms
	r=0
	sum=
	same=yes
	while [ $r -lt "$4" ]; do
		x=$(md5_of "/tmp/bench$1")
		[ -z "$sum" ] || [ "$x" = "$sum" ] || same=no
		sum=$x
		r=$((r + 1))
	done
	now_ms
	md5_ms=$((ms - t0))
	rm -f "/tmp/bench$1" "/tmp/bench$1.blk"
	echo "$loop_ms $md5_ms $s $sum $same"
}

# pingpong N: N round trips of a line between a shell on CPU 0 and one on
# CPU 1 through two FIFOs: every message wakes the other CPU (Linux's
# reschedule IPI when it idles), the IPI-heavy benchmark.
pingpong() {
	rm -f /tmp/ping /tmp/pong
	mkfifo /tmp/ping /tmp/pong
	taskset -c 1 sh -c 'exec 3</tmp/ping 4>/tmp/pong; while read -r x <&3; do echo "$x" >&4; done' &
	echoer=$!
	exec 5>/tmp/ping 6</tmp/pong
	now_ms
	t0=$ms
	taskset -p -c 0 $$ >/dev/null
	i=0
	while [ $i -lt "$1" ]; do
		echo "$i" >&5
		read -r y <&6
		i=$((i + 1))
	done
	now_ms
	exec 5>&- 6<&-
	wait "$echoer"
	rm -f /tmp/ping /tmp/pong
	echo "FERRY-BENCH pingpong n=$1 ms=$((ms - t0)) last=$y"
}

mode_bench() {
	iters=$(num_param guest.bench_iters 200000)
	mb=$(num_param guest.bench_mb 64)
	rounds=$(num_param guest.bench_rounds 5)
	# guest.bench_cpus=N runs the benchmark on CPUs 0..N-1 at once, each
	# copy pinned to its CPU (taskset); the figures are the slowest
	# copy's, and the total the wall time of them all.
	cpus=$(num_param guest.bench_cpus 1)
	# A wait before the benchmark, in which a harness may look at the
	# board (ferry-bench asks Ferry's API for its exits).
	if [ -n "$(param guest.bench_wait '')" ]; then
		sleep "$(num_param guest.bench_wait 1)"
	fi
	echo "FERRY-BENCH start"
	echo "FERRY-BENCH params iters=$iters mb=$mb rounds=$rounds cpus=$cpus"

	if [ "$cpus" -eq 1 ]; then
		set -- $(bench_one "" "$iters" "$mb" "$rounds")
		loop_ms=$1 md5_ms=$2 s=$3 sum=$4 same=$5
		total_ms=$((loop_ms + md5_ms))
	else
		now_ms
		w0=$ms
		c=0
		while [ $c -lt "$cpus" ]; do
			taskset -c "$c" /etc/ferry/workload.sh bench_one ".$c" "$iters" "$mb" "$rounds" >"/tmp/bench.out$c" &
			c=$((c + 1))
		done
		wait
		now_ms
		total_ms=$((ms - w0))
		loop_ms=0 md5_ms=0 same=yes s= sum=
		c=0
		while [ $c -lt "$cpus" ]; do
			set -- $(cat /tmp/bench.out$c)
			echo "FERRY-BENCH cpu=$c loop_ms=$1 md5_ms=$2"
			[ "$1" -gt "$loop_ms" ] && loop_ms=$1
			[ "$2" -gt "$md5_ms" ] && md5_ms=$2
			{ [ -z "$s" ] || [ "$3" = "$s" ]; } && { [ -z "$sum" ] || [ "$4" = "$sum" ]; } && [ "$5" = yes ] || same=no
			s=$3 sum=$4
			c=$((c + 1))
		done
	fi

	echo "FERRY-BENCH loop_ms=$loop_ms md5_ms=$md5_ms total_ms=$total_ms"
	echo "FERRY-BENCH check loop_sum=$s md5=$sum rounds_agree=$same"
	if [ "$cpus" -gt 1 ]; then
		pingpong "$(num_param guest.bench_pingpong 500)"
	fi
	echo "FERRY-BENCH done"
	sync
	poweroff -f
}

mode_shell() {
	echo "FERRY-GUEST: starting an interactive shell on the console"
	if [ -x /bin/setsid ] && [ -x /bin/cttyhack ]; then
		setsid cttyhack sh
	else
		sh
	fi
	echo "FERRY-GUEST: shell exited"
}

# a32: the 32-bit process (guest/a32) in the foreground, keeping the CPU busy
# in AArch32 EL0 and checking its own state.
mode_a32() {
	echo "FERRY-GUEST: running the 32-bit process /bin/a32"
	/bin/a32
	echo "FERRY-GUEST: /bin/a32 exited with $?"
}

# dma: the hostile NIC driver (guest/dma) points the guest's NIC at
# guest.dma_target (Ferry's carve-out), then the counter runs.
mode_dma() {
	/bin/ferry-dma -nic "$(param guest.dma_nic 0xa003c00)" -target "$(param guest.dma_target '')"
	counter
}

# hwbreak: a process debugging itself with hardware breakpoints and
# watchpoints (guest/hwbreak) in the foreground, counting their hits.
mode_hwbreak() {
	/bin/ferry-hwbreak -bp "$(param guest.hw_bp 6)" -wp "$(param guest.hw_wp 4)"
	echo "FERRY-GUEST: /bin/ferry-hwbreak exited with $?"
}

# net_up: with guest.ip=<addr>/<bits>, the guest's own NIC (eth0, the
# board's data NIC; Ferry's management NIC is not the guest's) gets the
# address and the echo service runs on it, whatever the mode.
net_up() {
	_ip=$(param guest.ip "")
	[ -n "$_ip" ] || return 0
	if ip link set eth0 up && ip addr add "$_ip" dev eth0; then
		echo "FERRY-GUEST: eth0 up $_ip mac=$(cat /sys/class/net/eth0/address)"
		/bin/ferry-echo -listen "${_ip%/*}:7" &
	else
		echo "FERRY-GUEST: warning: cannot bring eth0 up with $_ip"
	fi
}

net_up
# "workload.sh bench_one ...": one copy of the benchmark, run pinned to
# its CPU by mode_bench.
if [ "$1" = bench_one ]; then
	shift
	bench_one "$@"
	exit
fi

mode=$(param guest.mode counter)
echo "FERRY-GUEST: boot_id=$id mode=$mode"
case $mode in
counter) mode_counter ;;
idle)
	# Wakes once a second and prints nothing: the quietest guest that still
	# has work (docs/bench/idle.md).
	echo "FERRY-IDLE: sleeping"
	while :; do sleep 1; done
	;;
migrate) mode_migrate ;;
bench) mode_bench ;;
shell) mode_shell ;;
a32) mode_a32 ;;
dma) mode_dma ;;
hwbreak) mode_hwbreak ;;
*)
	echo "FERRY-GUEST: unknown mode $mode"
	mode_counter
	;;
esac
