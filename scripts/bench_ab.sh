#!/bin/sh
# SPDX-License-Identifier: MIT
# bench_ab.sh VBLK VBLKD_A VBLKD_B: compare two vblkd builds on the file
# backend, alternating A and B run by run (a shared, noisy machine shifts both
# the same way), and print the median IOPS of each and the ratio B/A for every
# workload. One image per storage, as scripts/bench.sh makes them: a file on
# tmpfs (page cache) and an O_DIRECT file on disk.
#
# Environment: AB_ROUNDS (default 5), AB_RUNTIME (seconds, default 2),
# AB_SIZE (default 512M), AB_STORAGE (subset of "tmpfs direct buffered",
# default "tmpfs direct"; buffered: a file on /var/tmp without O_DIRECT),
# AB_MATRIX (lines "rw bs iodepth", default below), AB_DISK (extra --disk
# options for both, e.g. ",writethrough"; default writeback, as bench.sh).
set -u
# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
[ $# -eq 3 ] || {
	echo "usage: bench_ab.sh VBLK VBLKD_A VBLKD_B" >&2
	exit 2
}
VBLK=$1 A=$2 B=$3
ROUNDS=${AB_ROUNDS:-5}
RUNTIME=${AB_RUNTIME:-2}
SIZE=${AB_SIZE:-512M}
MATRIX=${AB_MATRIX:-"randread 4k 1
randread 4k 32
randwrite 4k 1
randwrite 4k 32
read 128k 1
read 128k 32
write 128k 1
write 128k 32"}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-ab.XXXXXX")
PID=
IMGS=
# shellcheck disable=SC2086 # IMGS: a list of directories
trap 'bench_stop "$PID"; rm -rf "$TMP" $IMGS' EXIT
trap 'exit 1' HUP INT TERM

start() { # vblkd image extra-options
	rm -f "$TMP/sock"
	"$1" --socket "$TMP/sock" --disk "$2,queues=1${AB_DISK:-,writeback}$3" >"$TMP/log" 2>&1 &
	PID=$!
	bench_wait_socket bench_ab "$TMP/sock" "$PID" "$TMP/log"
}
stop() {
	bench_stop "$PID"
	PID=
}

for st in ${AB_STORAGE:-tmpfs direct}; do
	case $st in
	tmpfs) dir=/dev/shm extra= ;;
	direct) dir=/var/tmp extra=,direct ;;
	buffered) dir=/var/tmp extra= ;; # the page cache of a disk file system
	esac
	d=$(mktemp -d "$dir/vblk-ab.XXXXXX") || exit 1
	IMGS="$IMGS $d"
	mb=$(numfmt --from=iec "$SIZE")
	dd if=/dev/urandom of="$d/img" bs=1M count=$((mb / 1048576)) conv=fsync status=none || exit 1
	echo "$MATRIX" | while read -r rw bs qd; do
		: >"$TMP/a" && : >"$TMP/b"
		r=0
		while [ $r -lt "$ROUNDS" ]; do
			# A first in even rounds, B first in odd ones.
			for w in $( [ $((r % 2)) = 0 ] && echo "a b" || echo "b a"); do
				if [ "$w" = a ]; then bin=$A; else bin=$B; fi
				start "$bin" "$d/img" "$extra" || exit 1
				"$VBLK" bench "$TMP/sock" --rw="$rw" --bs="$bs" --iodepth="$qd" --queues=1 \
					--runtime="$RUNTIME" --json </dev/null 2>/dev/null |
					python3 -c 'import json,sys; j=json.load(sys.stdin)["jobs"][0]
s=j["read"] if j["read"]["total_ios"]>=j["write"]["total_ios"] else j["write"]
print("%.0f %.1f" % (s["iops"], s["clat_ns"]["percentile"]["50.000000"]/1000))' >>"$TMP/$w"
				stop
			done
			r=$((r + 1))
		done
		python3 - "$st" "$rw" "$bs" "$qd" "$TMP/a" "$TMP/b" <<'PY'
import statistics, sys
st, rw, bs, qd, fa, fb = sys.argv[1:]
def med(f, i):
    return statistics.median(float(l.split()[i]) for l in open(f) if l.strip())
ia, ib = med(fa, 0), med(fb, 0)
print("%-6s %-9s %-5s qd%-3s A %8.0f IOPS p50 %7.1f us | B %8.0f IOPS p50 %7.1f us | B/A %.2f" %
      (st, rw, bs, qd, ia, med(fa, 1), ib, med(fb, 1), ib / ia if ia else 0))
PY
	done
done
