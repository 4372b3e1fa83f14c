#!/bin/sh
# SPDX-License-Identifier: MIT
# bench.sh VBLK [VBLKD]: run `vblk bench` against qemu-storage-daemon and,
# when given, vblkd, for a few short workloads; write a markdown table to
# bench-report.md (in the build directory under `meson compile bench`, else the
# current directory; or $BENCH_REPORT).
# Environment: BENCH_RUNTIME (seconds per workload, default 3),
# BENCH_SIZE (image size, default 1G), QSD (qemu-storage-daemon path).
set -u
VBLK=$1
VBLKD=${2:-}
RUNTIME=${BENCH_RUNTIME:-3}
SIZE=${BENCH_SIZE:-1G}
REPORT=${BENCH_REPORT:-${MESON_BUILD_ROOT:-$PWD}/bench-report.md}
QSD=${QSD:-qemu-storage-daemon}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-bench.XXXXXX")
PID=
cleanup() {
	[ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

# rw bs iodepth queues
WORKLOADS="randread 4k 32 1
randwrite 4k 32 1
randread 4k 32 4
randrw 4k 16 2
read 128k 8 1
write 128k 8 1"

start() { # backend
	rm -f "$TMP/sock"
	truncate -s "$SIZE" "$TMP/img"
	case $1 in
	qsd)
		"$QSD" --blockdev driver=file,node-name=file0,filename="$TMP/img",cache.direct=off \
			--blockdev driver=raw,node-name=disk0,file=file0 \
			--export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path="$TMP/sock",writable=on,num-queues=4 \
			>"$TMP/log" 2>&1 &
		;;
	vblkd)
		# writeback, like qsd's vhost-user-blk export default (writethrough=off):
		# the guest decides durability with FLUSH in both cases.
		"$VBLKD" --socket "$TMP/sock" --disk "$TMP/img,queues=4,writeback" >"$TMP/log" 2>&1 &
		;;
	esac
	PID=$!
	for _ in $(seq 100); do
		[ -S "$TMP/sock" ] && return 0
		sleep 0.05
	done
	echo "bench: $1 did not start" >&2
	cat "$TMP/log" >&2
	return 1
}

stop() {
	kill "$PID" 2>/dev/null
	wait "$PID" 2>/dev/null
	PID=
}

# One report row's numbers from vblk bench --json (docs/json.md: fio's
# layout; read and write added up, latency of both): IOPS MiB/s mean p50 p99 p99.9 (µs).
row() {
	python3 - "$1" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
r, w = job["read"], job["write"]
n = r["total_ios"] + w["total_ios"]
secs = max(r["runtime"], w["runtime"]) / 1000
def lat(key):
    # the busier direction's latency (randrw: both are about equal)
    side = r if r["total_ios"] >= w["total_ios"] else w
    c = side["clat_ns"]
    return (c["mean"] if key == "mean" else c["percentile"][key]) / 1000
print("%.0f %.1f %.1f %.1f %.1f %.1f" % (n / secs, (r["io_bytes"] + w["io_bytes"]) / secs / 1048576,
      lat("mean"), lat("50.000000"), lat("99.000000"), lat("99.900000")))
PY
}

{
	echo "# vblk bench results"
	echo
	echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(uname -srm), $(nproc) CPUs, ${RUNTIME}s per workload, ${SIZE} image on $(df -T "${TMPDIR:-/tmp}" | awk 'NR==2 {print $2}')."
	echo "Both backends in writeback mode (qsd's export default), page cache on; the client is \`vblk bench\` (libvblk)."
	echo
	echo "| backend | rw | bs | iodepth | queues | IOPS | MiB/s | mean µs | p50 µs | p99 µs | p99.9 µs |"
	echo "|---|---|---|---|---|---:|---:|---:|---:|---:|---:|"
} >"$REPORT"

for be in qsd ${VBLKD:+vblkd}; do
	if [ "$be" = qsd ] && ! command -v "$QSD" >/dev/null 2>&1; then
		echo "bench: $QSD not found, skipping" >&2
		continue
	fi
	start "$be" || continue
	echo "$WORKLOADS" | while read -r rw bs qd nq; do
		out=$TMP/out.json
		if ! "$VBLK" bench "$TMP/sock" --rw="$rw" --bs="$bs" --iodepth="$qd" --queues="$nq" \
			--runtime="$RUNTIME" --json >"$out" 2>"$TMP/err"; then
			echo "| $be | $rw | $bs | $qd | $nq | failed: $(head -1 "$TMP/err") | | | | | |" >>"$REPORT"
			continue
		fi
		# shellcheck disable=SC2046 # six numbers, split on purpose
		printf '| %s | %s | %s | %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f | %.1f |\n' \
			"$be" "$rw" "$bs" "$qd" "$nq" $(row "$out") >>"$REPORT"
		echo "bench: $be $rw bs=$bs iodepth=$qd queues=$nq done" >&2
	done
	stop
done
echo "bench: wrote $REPORT" >&2
cat "$REPORT"
