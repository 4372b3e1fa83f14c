#!/bin/sh
# SPDX-License-Identifier: MIT
# The benchmark harness end to end, not a speed check: scripts/bench.sh in
# its quick mode, against vblkd only, with a tiny runtime, must write a report
# with a row of numbers for every workload of the quick matrix on both
# storages and embed gnuplot plots that are well-formed SVG files; with 2 CPUs
# or more, the pinned pass (BENCH_PIN) adds rows for vblkd polling on a core
# of its own, with and without the client polling, and their goal lines.
# It leaves nothing behind: its temporary directory and both images (a
# page-cache image left in /dev/shm holds RAM until reboot) are removed.
# Usage: test_bench_smoke.sh BENCH_SH VBLK VBLKD
set -u
BENCH=$1 VBLK=$2 VBLKD=$3
for p in python3 gnuplot; do
	command -v "$p" >/dev/null 2>&1 || {
		echo "SKIP: $p not found (scripts/install-deps.sh test)"
		exit 77
	}
done
[ -d /dev/shm ] || {
	echo "SKIP: no /dev/shm for the page-cache image"
	exit 77
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-bench-smoke.XXXXXX")
# Private parents for the bench's temporary directory and its two images.
SHM=$(mktemp -d /dev/shm/vblk-bench-smoke.XXXXXX)
DISK=$(mktemp -d "${BENCH_DISK_DIR:-/var/tmp}/vblk-bench-smoke.XXXXXX")
trap 'rm -rf "$TMP" "$SHM" "$DISK"' EXIT
trap 'exit 1' HUP INT TERM
mkdir "$TMP/tmp"

if ! TMPDIR="$TMP/tmp" BENCH_QUICK=1 BENCH_BACKENDS=vblkd BENCH_RUNTIME=0.2 BENCH_SIZE=16M \
	BENCH_TMPFS_DIR="$SHM" BENCH_DISK_DIR="$DISK" BENCH_REPORT="$TMP/report.md" \
	"$BENCH" "$VBLK" "$VBLKD" 2>"$TMP/log"; then
	echo "FAIL: bench.sh exited non-zero"
	cat "$TMP/log"
	exit 1
fi
for d in "$TMP/tmp" "$SHM" "$DISK"; do
	[ -z "$(ls -A "$d")" ] || {
		echo "FAIL: bench.sh left files behind in $d:"
		ls -lA "$d"
		exit 1
	}
done
[ -s "$TMP/report.md" ] || {
	echo "FAIL: no report"
	exit 1
}
# The quick matrix of scripts/bench.sh (rw bs iodepth queues), on both storages.
python3 - "$TMP/report.md" "$(nproc)" <<'PY' || exit 1
import os, re, sys
import xml.etree.ElementTree as ET
path = sys.argv[1]
text = open(path).read()
bad = []
for st in ("tmpfs", "direct"):
    for rw, bs, qd, nq in (("randread", "4k", 1, 1), ("randread", "4k", 32, 1),
                           ("randwrite", "4k", 32, 1), ("read", "128k", 32, 1),
                           ("randread", "4k", 32, 2)):
        row = re.search(r"^\| %s \| vblkd \| %s \| %s \| %d \| %d \| ([0-9][0-9 ]*) \|" % (st, rw, bs, qd, nq),
                        text, re.M)
        if not row or int(row.group(1).replace(" ", "")) <= 0:
            bad.append("no IOPS row for %s %s %s qd%d q%d" % (st, rw, bs, qd, nq))
if int(sys.argv[2]) >= 2:
    for st in ("tmpfs", "direct"):
        for be in ("vblkd-pin", "vblkd-pin-both"):
            for qd in (1, 32):
                row = re.search(r"^\| %s \| %s \| randread \| 4k \| %d \| 1 \| ([0-9][0-9 ]*) \|" % (st, be, qd),
                                text, re.M)
                if not row or int(row.group(1).replace(" ", "")) <= 0:
                    bad.append("no IOPS row for the pinned pass: %s %s qd%d" % (st, be, qd))
    if "## With a core for each side" not in text:
        bad.append("no section for the pinned pass")
    if not re.search(r"^\| O_DIRECT 4k randread qd1, a core each \(vblkd polling\)", text, re.M):
        bad.append("no goal line for the pinned pass")
if "load average" not in text:
    bad.append("no load average")
svgs = re.findall(r"!\[[^]]*\]\(([^)]+\.svg)\)", text)
want = {"bench/iops-qd-tmpfs-randread-4k.svg", "bench/iops-qd-direct-randread-4k.svg",
        "bench/latency-tmpfs-randread-4k-qd1.svg", "bench/latency-direct-randread-4k-qd1.svg"}
for w in sorted(want - set(svgs)):
    bad.append("plot %s not embedded" % w)
for s in svgs:
    f = os.path.join(os.path.dirname(path), s)
    try:
        root = ET.parse(f).getroot()
        if not root.tag.endswith("svg") or len(root) == 0:
            bad.append("%s is not a non-empty SVG" % s)
    except (OSError, ET.ParseError) as e:
        bad.append("%s: %s" % (s, e))
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
echo "PASS: report with every row and ${TMP##*/}/bench/*.svg"
