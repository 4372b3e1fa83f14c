#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_poll_device.sh VBLK VBLKD: vblkd's queue polling (--disk ...,poll-us=N,
# docs/polling.md) against no polling, in one session: for every storage
# (a file on tmpfs; O_DIRECT on a file under /var/tmp) and queue depth,
# ROUNDS rounds of `vblk bench` 4k randread, each round running every
# poll-us value once in a rotated order, so load that drifts over the
# session hits every value alike; then the medians and their ratio to
# poll-us=0. Last, the CPU an idle connected queue costs with each value:
# vblkd's utime+stime over IDLE seconds while a client holds the device and
# sends nothing.
#
# Environment: POLL_US (default "0 16 50 100"), ROUNDS (5), RUNTIME (2),
# DEPTHS ("1 32"), STORAGE ("tmpfs direct"), SIZE (256M), IDLE (10),
# TMPFS_DIR (/dev/shm), DISK_DIR (/var/tmp).
set -u
# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
[ $# -eq 2 ] || {
	echo "usage: bench_poll_device.sh VBLK VBLKD" >&2
	exit 2
}
VBLK=$1
VBLKD=$2
POLL_US=${POLL_US:-0 16 50 100}
ROUNDS=${ROUNDS:-5}
RUNTIME=${RUNTIME:-2}
DEPTHS=${DEPTHS:-1 32}
STORAGE=${STORAGE:-tmpfs direct}
SIZE=${SIZE:-256M}
IDLE=${IDLE:-10}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-bench-poll.XXXXXX")
PID=
CPID=
IMGS=
cleanup() {
	for p in $CPID $PID; do bench_stop "$p"; done
	for d in $IMGS; do rm -rf "$d"; done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

start() { # image extra-disk-options
	"$VBLKD" --socket "$TMP/sock" --disk "$1,queues=1,writeback$2" >"$TMP/log" 2>&1 &
	PID=$!
	bench_wait_socket bench_poll_device "$TMP/sock" "$PID" "$TMP/log" || exit 1
}

stop() {
	bench_stop "$PID"
	PID=
}

# utime + stime of a process, in clock ticks (proc(5) fields 14 and 15).
cputicks() {
	sed 's/.*) //' "/proc/$1/stat" | awk '{ print $12 + $13 }'
}

median() {
	sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
		else printf "%.0f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
for st in $STORAGE; do
	case $st in
	tmpfs) dir=${TMPFS_DIR:-/dev/shm} direct= ;;
	direct) dir=${DISK_DIR:-/var/tmp} direct=,direct=on ;;
	*) continue ;;
	esac
	d=$(mktemp -d "$dir/vblk-bench-poll.XXXXXX") || exit 1
	IMGS="$IMGS $d"
	# Written in full: reads of holes would touch no data.
	head -c "$SIZE" /dev/urandom >"$d/img" 2>/dev/null ||
		dd if=/dev/urandom of="$d/img" bs=1M count="${SIZE%M}" status=none
	for qd in $DEPTHS; do
		: >"$TMP/res"
		r=1
		while [ "$r" -le "$ROUNDS" ]; do
			order=$(echo "$POLL_US" | tr ' ' '\n' | grep -v '^$' | awk -v r="$r" '
				{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1] }')
			for us in $order; do
				start "$d/img" "$direct,poll-us=$us"
				"$VBLK" bench "$TMP/sock" --rw=randread --bs=4k --iodepth="$qd" \
					--queues=1 --runtime="$RUNTIME" </dev/null >"$TMP/out" 2>&1 ||
					echo "bench_poll: $st qd$qd poll-us=$us failed" >&2
				iops=$(sed -n 's/.*IOPS[= :]*\([0-9.]*\).*/\1/p' "$TMP/out" | head -1)
				echo "$us ${iops:-0}" >>"$TMP/res"
				stop
			done
			r=$((r + 1))
		done
		base=$(awk '$1 == 0 { print $2 }' "$TMP/res" | median)
		for us in $POLL_US; do
			m=$(awk -v u="$us" '$1 == u { print $2 }' "$TMP/res" | median)
			all=$(awk -v u="$us" '$1 == u { printf "%s ", $2 }' "$TMP/res")
			echo "$st qd$qd poll-us=$us median IOPS $m ratio $(awk -v m="$m" -v b="$base" \
				'BEGIN { printf "%.2f", b ? m / b : 0 }') runs: $all"
		done
	done
done

# Idle: a client holds the device and sends nothing (vblk bench, stopped
# with SIGSTOP once it runs; its one request completes and nothing follows).
for us in $POLL_US; do
	d=${IMGS%% *}
	d=${d:-$TMP}
	[ -f "$d/img" ] || truncate -s 64M "$d/img"
	start "$d/img" ",poll-us=$us"
	"$VBLK" bench "$TMP/sock" --rw=randread --bs=4k --iodepth=1 --queues=1 \
		--runtime=3600 </dev/null >/dev/null 2>&1 &
	CPID=$!
	sleep 1
	kill -STOP "$CPID"
	sleep 0.5
	t0=$(cputicks "$PID")
	sleep "$IDLE"
	t1=$(cputicks "$PID")
	kill -CONT "$CPID"
	kill "$CPID" 2>/dev/null
	wait "$CPID" 2>/dev/null
	CPID=
	stop
	echo "idle poll-us=$us: vblkd used $((t1 - t0)) ticks of $((IDLE * $(getconf CLK_TCK))) in ${IDLE}s"
done
