#!/bin/sh
# SPDX-License-Identifier: MIT
# The driver-side poll window (vblk --poll-us, docs/polling.md): vblk bench
# 4k randread at iodepth 1 and 32 against vblkd and qemu-storage-daemon on a
# tmpfs image, poll windows in alternating order, ROUNDS rounds; prints the
# median IOPS and p50 latency of each setting and its ratio to no polling.
#   scripts/bench_poll_driver.sh VBLK VBLKD
# Variables: ROUNDS (5), RUNTIME (2 s), POLLS ("0 20 50"), DEPTHS ("1 32"),
#   BACKENDS ("vblkd qsd"), PIN ("" or a CPU list: the back end and vblk
#   both pinned there, e.g. PIN=0 - the device and the poller share a core),
#   BENCH_TMPFS_DIR (/dev/shm), QSD (qemu-storage-daemon).
set -eu
# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
VBLK=$1
VBLKD=$2
ROUNDS=${ROUNDS:-5} RUNTIME=${RUNTIME:-2} POLLS=${POLLS:-0 20 50} DEPTHS=${DEPTHS:-1 32}
QSD=${QSD:-qemu-storage-daemon}
TMP=$(mktemp -d "${BENCH_TMPFS_DIR:-/dev/shm}/vblk-poll.XXXXXX")
PID=
cleanup() {
	bench_stop "$PID"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
# taskset execs the program: $! is the back end itself, which cleanup stops.
PINCMD=
[ -z "${PIN:-}" ] || PINCMD="taskset -c $PIN"

dd if=/dev/urandom of="$TMP/img" bs=1M count=256 status=none
for be in ${BACKENDS:-vblkd qsd}; do
	rm -f "$TMP/sock"
	case $be in
	vblkd) $PINCMD "$VBLKD" --socket "$TMP/sock" --disk "$TMP/img,queues=1,writeback" \
		>"$TMP/log" 2>&1 & ;;
	qsd) $PINCMD "$QSD" --blockdev driver=file,node-name=file0,filename="$TMP/img" \
		--blockdev driver=raw,node-name=disk0,file=file0 \
		--export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path="$TMP/sock",writable=on \
		>"$TMP/log" 2>&1 & ;;
	esac
	PID=$!
	bench_wait_socket bench_poll_driver "$TMP/sock" "$PID" "$TMP/log" || exit 1
	: >"$TMP/rows"
	for r in $(seq "$ROUNDS"); do
		# Alternate the order of the windows from round to round.
		order=$POLLS
		[ $((r % 2)) -eq 0 ] && order=$(echo "$POLLS" | tr ' ' '\n' | sort -rn | tr '\n' ' ')
		for qd in $DEPTHS; do
			for p in $order; do
				$PINCMD "$VBLK" bench "$TMP/sock" --rw=randread --bs=4k --iodepth="$qd" \
					--runtime="$RUNTIME" --poll-us="$p" --json >"$TMP/out.json"
				python3 -c 'import json,sys
r = json.load(open(sys.argv[1]))["jobs"][0]["read"]
print(sys.argv[2], sys.argv[3], sys.argv[4], r["iops"], r["clat_ns"]["percentile"]["50.000000"] / 1000)' \
					"$TMP/out.json" "$be" "$qd" "$p" >>"$TMP/rows"
			done
		done
	done
	kill "$PID"
	wait "$PID" 2>/dev/null || true
	PID=
	python3 - "$TMP/rows" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
med = {}
for be, qd, p, iops, p50 in rows:
    med.setdefault((be, int(qd), int(p)), []).append((float(iops), float(p50)))
for (be, qd, p), v in sorted(med.items()):
    iops = statistics.median(x[0] for x in v)
    p50 = statistics.median(x[1] for x in v)
    base = statistics.median(x[0] for x in med[(be, qd, 0)])
    print("%-6s qd%-3d poll-us %-3d  IOPS %8.0f  p50 %7.1f us  x%.2f  (%d runs)"
          % (be, qd, p, iops, p50, iops / base, len(v)))
PY
done
