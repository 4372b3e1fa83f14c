#!/bin/bash
# SPDX-License-Identifier: MIT
# Export limits end to end (issue 12, item 5): a daemon serves a disk with
# a limit in its --disk options, `vblk bench` drives it with 16 requests in
# flight over 2 queues for 4 s, and the measured rate must lie between 0.3x
# and 1.5x the limit (a correctness check of the limiter, not a speed
# test: wide enough for a machine loaded by other work — an unlimited run
# is many times the limit, and the check below requires it to be > 3x).
# The same bench without the limit must go clearly faster (3x the limit),
# or the first check proved nothing.
#   limits.sh MODE DAEMON VBLK
# MODE: iops (iops=200, 4 KiB random reads), bps-wr (bps-wr=2M, 64 KiB
# random writes, reads unlimited), sigterm (iops=2 with 32 requests in
# flight: SIGTERM must not wait ~16 s for the budget; the waiting requests
# go to the backend at once, as QEMU does on a drain). DAEMON: vblkd, or
# tests/guest/qsd-as-vblkd.sh for qemu-storage-daemon's throttle group.
# Exit 0 pass, 1 fail, 77 skip.
set -u
mode=$1 vblkd=$2 vblk=$3
case "$vblkd" in
*qsd-as-vblkd.sh)
	command -v "${QSD:-qemu-storage-daemon}" >/dev/null ||
		{ echo "SKIP: no qemu-storage-daemon"; exit 77; } ;;
esac
. "$(dirname "$0")/daemon_lib.sh"

case "$mode" in
iops) opt=iops=200 limit=200 bench=(--rw=randread --bs=4k) key=iops ;;
bps-wr) opt=bps-wr=2M limit=2 bench=(--rw=randwrite --bs=64k) key=mib_s ;;
sigterm) ;;
*) echo "limits.sh: unknown mode $mode" >&2; exit 2 ;;
esac

img=$tmp/disk.img
truncate -s 64M "$img" || exit 1

# rate OPTS: start the daemon on $img with OPTS, bench it; the rate goes to $result.
rate() {
	local sock=$tmp/vhost.sock out=$tmp/bench.log
	rm -f "$sock"
	# qsd-as-vblkd logs no "serving" line: wait for the socket (a fresh path).
	"$vblkd" --socket "$sock" --disk "$img,queues=2$1" >"$tmp/daemon.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 200); do
		[ -S "$sock" ] && break
		kill -0 "$pid" 2>/dev/null || fail "the daemon exited before serving"
		sleep 0.05
	done
	[ -S "$sock" ] || fail "no socket after 10 s"
	"$vblk" bench "$sock" "${bench[@]}" --iodepth=16 --queues=2 --runtime=4 --json >"$out" 2>&1 ||
		fail "vblk bench failed: $(cat "$out")"
	kill -TERM "$pid"
	wait "$pid"
	# fio's layout (docs/json.md): reads and writes apart, bandwidth in bytes/s.
	result=$(python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
r, w = j["read"], j["write"]
print(r["iops"] + w["iops"] if sys.argv[2] == "iops" else (r["bw_bytes"] + w["bw_bytes"]) / 1048576)
' "$out" "$key" 2>/dev/null)
	[ -n "$result" ] || fail "no $key in the bench output: $(cat "$out")"
}

if [ "$mode" = sigterm ]; then
	sock=$tmp/vhost.sock
	start vblkd "$sock" --disk "$img,queues=2,iops=2,iops-burst=1"
	"$vblk" bench "$sock" --rw=randwrite --bs=4k --iodepth=16 --queues=2 --runtime=30 \
		>"$tmp/bench.log" 2>&1 &
	pids+=("$!")
	sleep 1.5
	t0=$(date +%s%N)
	stop "$pid"
	ms=$((($(date +%s%N) - t0) / 1000000))
	echo "vblkd exited $ms ms after SIGTERM with about 30 requests held by iops=2"
	[ "$ms" -lt 5000 ] || fail "vblkd took $ms ms to stop: it waited for the limit"
	exit 0
fi

rate ",$opt"
limited=$result
echo "$opt: $key $limited"
awk -v r="$limited" -v l="$limit" 'BEGIN { exit !(r >= 0.3 * l && r <= 1.5 * l) }' ||
	fail "$key $limited with $opt: not within 0.3x..1.5x of $limit"

rate ""
free=$result
echo "no limit: $key $free"
awk -v r="$free" -v l="$limit" 'BEGIN { exit !(r > 3 * l) }' ||
	fail "$key $free without a limit: not clearly above $limit, the check above proved nothing"
exit 0
