#!/bin/sh
# SPDX-License-Identifier: MIT
# scripts/io-profile.sh end to end, not a speed check: its quick mode must
# exit 0 and report, for every back end it found, per-I/O rows at qd1 and
# qd32 with I/Os done, syscalls counted (at least one per I/O in the back
# end at qd1: it has to wake up) and context switches, and idle rows with
# 1 and 4 disks whose memory figures are consistent (VmHWM >= VmRSS) and
# whose CPU share lies between 0 and the machine's CPUs.
# Usage: test_io_profile.sh IO_PROFILE_SH VBLK VBLKD VBLK_IDLE
set -u
PROFILE=$1 VBLK=$2 VBLKD=$3 IDLE=$4
command -v python3 >/dev/null 2>&1 && [ -x /usr/bin/time ] && [ -d /dev/shm ] || {
	echo "SKIP: needs python3, GNU time and /dev/shm (scripts/install-deps.sh test)"
	exit 77
}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-io-profile-test.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
trap 'exit 1' HUP INT TERM

if ! PROFILE_RUNTIME=0.2 PROFILE_IDLE=0.5 "$PROFILE" --quick --out "$TMP/report.md" \
	--tsv "$TMP/rows.tsv" "$VBLK" "$VBLKD" "$IDLE" 2>"$TMP/log"; then
	echo "FAIL: io-profile.sh exited non-zero"
	cat "$TMP/log"
	exit 1
fi
python3 - "$TMP/report.md" "$TMP/rows.tsv" "$(nproc)" <<'PY' || { cat "$TMP/report.md"; exit 1; }
import re, sys
md, tsv, ncpu = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3])
traced = re.search(r"syscall counter: (\w+)", md).group(1) != "none"
io, idle, bad = {}, {}, []
for line in open(tsv):
    f = line.rstrip("\n").split("\t")
    if f[0] == "io":
        io[(f[1], int(f[2]), f[3])] = f
    elif f[0] == "idle":
        idle[(f[1], int(f[2]))] = f
backends = sorted({k[0] for k in io})
if "vblkd" not in backends:
    bad.append("no per-I/O rows for vblkd")
for be in backends:
    sides = ["c"] if be == "fio" else ["b", "c"]
    for qd in (1, 32):
        for side in sides:
            f = io.get((be, qd, side))
            if not f:
                bad.append(f"{be} qd{qd} {side}: no row")
                continue
            ios, iops, cpu, vcs, ivcs = int(f[4]), float(f[5]), float(f[6]), float(f[9]), float(f[10])
            if ios <= 0 or iops <= 0:
                bad.append(f"{be} qd{qd} {side}: {ios} I/Os, {iops} IOPS")
            if not (-50 <= cpu < 10000) or not (-1 <= vcs < 100) or not (-1 <= ivcs < 100):
                bad.append(f"{be} qd{qd} {side}: insane cpu {cpu} µs, cs {vcs}/{ivcs} per I/O")
            if traced:
                sc = float(f[11])
                floor = 1 if (qd == 1 and side == sides[0]) else 0
                if not (floor <= sc < 1000) or sc <= 0:
                    bad.append(f"{be} qd{qd} {side}: {sc} syscalls per I/O")
            if not re.search(r"^\| %s \| %d \| [0-9]+ \|" % (re.escape({"fio": "host fio"}.get(be, be)), qd), md, re.M):
                bad.append(f"{be} qd{qd}: no markdown row")
for be in [b for b in backends if b != "fio"]:
    for n in (1, 4):
        f = idle.get((be, n))
        if not f:
            bad.append(f"{be} idle {n} disk(s): no row")
            continue
        cpu, rss, hwm, threads = float(f[3]), int(f[4]), int(f[5]), int(f[7])
        if not (0 <= cpu <= 100 * ncpu):
            bad.append(f"{be} idle {n}: cpu {cpu} %")
        if not (0 < rss <= hwm) or threads < 1:
            bad.append(f"{be} idle {n}: VmRSS {rss} VmHWM {hwm} threads {threads}")
# vblkd serves each export on its own threads: more disks, more threads.
if ("vblkd", 1) in idle and ("vblkd", 4) in idle and int(idle["vblkd", 4][7]) <= int(idle["vblkd", 1][7]):
    bad.append("vblkd has no more threads with 4 disks than with 1")
if "## Idle cost and memory" not in md:
    bad.append("no idle section")
for b in bad:
    print("FAIL:", b)
sys.exit(1 if bad else 0)
PY
echo "PASS: per-I/O and idle rows for $(cut -f2 "$TMP/rows.tsv" | sort -u | tr '\n' ' ')"
