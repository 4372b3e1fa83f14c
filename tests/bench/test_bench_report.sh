#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/bench_report.py on made-up runs, not a benchmark: where vblkd's p50
# latency loses to qsd's, the report names vblkd's mean when that is the
# lower one (at a fixed queue depth the mean follows from IOPS) and says
# nothing about the mean when vblkd's is higher too.
# Usage: test_bench_report.sh BENCH_REPORT_PY
set -u
REPORT_PY=$1
command -v python3 >/dev/null 2>&1 || {
	echo "SKIP: needs python3"
	exit 77
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-bench-report-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' HUP INT TERM

# report VBLKD_MEAN: one 128k write qd32 row, vblkd p50 1000 µs, qsd p50 570 µs
# and mean 950 µs; prints the report's "Where vblkd loses" line for it.
report() {
	cat >"$TMP/meta.env" <<META
DATE='2026-12-05 00:00 UTC'
KERNEL='Linux test'
NPROC='2'
CPU='test'
LOAD_START='0 0 0'
LOAD_END='0 0 0'
ROUNDS='1'
RUNTIME='1'
SIZE='1M'
QUICK='1'
BACKENDS=' vblkd qsd fio'
COMMIT='test'
DIR_tmpfs='/dev/shm'
META
	echo "write 128k 32 1" >"$TMP/matrix.txt"
	echo "vblkd --socket \$SOCK" >"$TMP/commands.txt"
	printf 'tmpfs\tvblkd\twrite\t128k\t32\t1\t1\t42000\t5250\t%s\t1000\t1100\t1200\t1300\n' "$1" >"$TMP/runs.tsv"
	printf 'tmpfs\tqsd\twrite\t128k\t32\t1\t1\t33000\t4125\t950\t570\t2000\t3000\t4000\n' >>"$TMP/runs.tsv"
	printf 'tmpfs\tfio\twrite\t128k\t32\t1\t1\t44000\t5500\t700\t700\t800\t900\t1000\n' >>"$TMP/runs.tsv"
	python3 "$REPORT_PY" --results "$TMP/runs.tsv" --meta "$TMP/meta.env" \
		--commands "$TMP/commands.txt" --matrix "$TMP/matrix.txt" --storage tmpfs \
		--report "$TMP/report.md" 2>"$TMP/log" || {
		echo "FAIL: bench_report.py exited non-zero"
		cat "$TMP/log"
		exit 1
	}
	grep "128k write qd32, 1 queue(s): p50 latency" "$TMP/report.md"
}

line=$(report 740) || exit 1
case $line in
*"p50 latency 1000.0 µs against qsd's 570.0 µs. The mean is vblkd's: 740.0 µs against 950.0 µs"*) ;;
*)
	echo "FAIL: mean lower, not said: $line"
	exit 1
	;;
esac
line=$(report 980) || exit 1
case $line in
*"p50 latency 1000.0 µs against qsd's 570.0 µs.") ;;
*)
	echo "FAIL: mean higher, yet a mean sentence (or no line): $line"
	exit 1
	;;
esac
echo "PASS"
