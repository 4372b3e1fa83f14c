#!/bin/sh
# SPDX-License-Identifier: MIT
# bench.sh VBLK [VBLKD]: the benchmark report. On one image per storage
# (page cache: a file on tmpfs; O_DIRECT: a file on the real disk) it runs
# `vblk bench` against vblkd, qemu-storage-daemon (default, and with an
# iothread) and host fio (io_uring) on the same file, for every workload of
# the matrix below, BENCH_ROUNDS times, the back ends in a different order in
# every round; scripts/bench_report.py then writes the report (medians,
# ratios, machine, commands) and gnuplot SVG plots next to it.
#
# Environment:
#   BENCH_ROUNDS   rounds (default 3; medians are taken over them)
#   BENCH_RUNTIME  seconds per run (default 2)
#   BENCH_QUICK=1  smoke run: 1 round of 0.5 s, a smaller matrix (~1 min)
#   BENCH_SIZE     image size (default 512M; quick 64M)
#   BENCH_BACKENDS subset of "vblkd qsd qsd-iothread fio" (default: all found)
#   BENCH_STORAGE  subset of "tmpfs direct" (default both)
#   BENCH_TMPFS_DIR (default /dev/shm), BENCH_DISK_DIR (default /var/tmp)
#   BENCH_REPORT   report path (default docs/bench-report.md of this tree);
#                  plots go to bench/ next to it
#   QSD, FIO       program paths
#   BENCH_IDLE_CLIENT  tests/bench/vblk_idle: adds the idle cost and memory
#                  of vblkd and qsd (scripts/io-profile.sh --idle-only)
#   BENCH_PIN      1 (default with 2 CPUs or more): a second pass with a core
#                  for each side - the back end pinned to the last CPU and
#                  polling, the client pinned to CPU 0, host fio on the
#                  back end's CPU - on
#                  4k random I/O at qd1 and qd32; 0 leaves it out
#   BENCH_POLL_US  the poll window of that pass (default 200 us): vblkd
#                  poll-us=, qsd's iothread poll-max-ns=, libvblk --poll-us=
set -u
# shellcheck source=bench-lib.sh
. "$(dirname "$0")/bench-lib.sh"
[ $# -ge 1 ] || {
	echo "usage: bench.sh VBLK [VBLKD]" >&2
	exit 2
}
VBLK=$1
VBLKD=${2:-}
HERE=$(cd "$(dirname "$0")" && pwd)
QUICK=${BENCH_QUICK:-0}
if [ "$QUICK" = 1 ]; then
	ROUNDS=${BENCH_ROUNDS:-1}
	RUNTIME=${BENCH_RUNTIME:-0.5}
	SIZE=${BENCH_SIZE:-64M}
	# rw bs iodepth queues
	MATRIX="randread 4k 1 1
randread 4k 32 1
randwrite 4k 32 1
read 128k 32 1
randread 4k 32 2"
else
	ROUNDS=${BENCH_ROUNDS:-3}
	RUNTIME=${BENCH_RUNTIME:-2}
	SIZE=${BENCH_SIZE:-512M}
	MATRIX="randread 4k 1 1
randread 4k 32 1
randread 4k 128 1
randwrite 4k 1 1
randwrite 4k 32 1
randwrite 4k 128 1
read 128k 1 1
read 128k 32 1
read 128k 128 1
write 128k 1 1
write 128k 32 1
write 128k 128 1
randread 4k 32 2
randwrite 4k 32 2
read 128k 32 2"
fi
# The pinned pass (BENCH_PIN): the workloads polling is for.
if [ "$QUICK" = 1 ]; then
	PIN_MATRIX="randread 4k 1 1
randread 4k 32 1"
else
	PIN_MATRIX="randread 4k 1 1
randread 4k 32 1
randwrite 4k 1 1
randwrite 4k 32 1"
fi
REPORT=${BENCH_REPORT:-${MESON_SOURCE_ROOT:-$HERE/..}/docs/bench-report.md}
QSD=${QSD:-qemu-storage-daemon}
FIO=${FIO:-fio}
STORAGE=${BENCH_STORAGE:-tmpfs direct}

BACKENDS=
for be in ${BENCH_BACKENDS:-vblkd qsd qsd-iothread fio}; do
	case $be in
	vblkd) prog=$VBLKD ;;
	qsd | qsd-iothread) prog=$QSD ;;
	fio) prog=$FIO ;;
	*)
		echo "bench: unknown back end $be" >&2
		exit 2
		;;
	esac
	if [ -z "$prog" ] || ! command -v "$prog" >/dev/null 2>&1; then
		echo "bench: $be: '${prog:-vblkd}' not found, left out (scripts/install-deps.sh bench)" >&2
		continue
	fi
	BACKENDS="$BACKENDS $be"
done
[ -n "$BACKENDS" ] || {
	echo "bench: no back end to measure" >&2
	exit 1
}
# A core for each side: the back end on the last CPU, the client on CPU 0.
# vblkd-pin polls and its client sleeps on the call eventfd as a guest does;
# vblkd-pin-both polls on both sides (libvblk --poll-us); qsd-iothread-pin is
# qsd's iothread with the same poll window (poll-max-ns); fio-pin is host fio
# on the back end's CPU: the host doing the I/O itself on the core the back
# end gets (on these VMs the disk's interrupts go to one CPU, and fio is
# faster there); fio-pin-busy is the same with CPU 0 kept busy by a spinning
# shell, the CPU load the polling client puts there (on a VM the virtual
# disk may share the host's cores with the vCPUs, so that load alone can
# slow it).
PIN=${BENCH_PIN:-1}
POLL_US=${BENCH_POLL_US:-200}
NCPU=$(nproc)
BE_CPU=$((NCPU - 1))
if [ "$PIN" = 1 ] && { [ "$NCPU" -lt 2 ] || ! command -v taskset >/dev/null 2>&1; }; then
	echo "bench: fewer than 2 CPUs or no taskset: the pinned pass is left out" >&2
	PIN=0
fi
if [ "$PIN" = 1 ]; then
	for be in $BACKENDS; do
		case $be in
		vblkd) BACKENDS="$BACKENDS vblkd-pin vblkd-pin-both" ;;
		qsd-iothread) BACKENDS="$BACKENDS $be-pin" ;;
		fio) BACKENDS="$BACKENDS fio-pin fio-pin-busy" ;;
		esac
	done
fi
matrix_of() { # backend -> its workloads
	case $1 in
	*-pin*) echo "$PIN_MATRIX" ;;
	*) echo "$MATRIX" ;;
	esac
}

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-bench.XXXXXX")
PID=
cleanup() {
	bench_stop "$PID"
	# A spinner of fio-pin-busy interrupted with its run (it ignores SIGINT).
	[ ! -s "$TMP/spin.pid" ] || kill "$(cat "$TMP/spin.pid")" 2>/dev/null
	# The images' directories (make_image runs in a command substitution:
	# a variable it set would not reach this shell).
	[ ! -f "$TMP/imgdirs" ] || while read -r d; do rm -rf "$d"; done <"$TMP/imgdirs"
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

RESULTS=$TMP/results.tsv
CMDS=$TMP/commands.txt
META=$TMP/meta.env
: >"$RESULTS"
: >"$CMDS"

# Record a command once, with the temporary paths as placeholders, for the
# report's "exact commands" section.
note_cmd() {
	line=$(printf '%s ' "$@" | sed -e "s|$TMP/sock|\$SOCK|g" -e "s|$CUR_IMG|\$IMG_$CUR_ST|g")
	grep -qxF -- "$line" "$CMDS" || printf '%s\n' "$line" >>"$CMDS"
}

# One image per storage, written in full so that reads touch real data
# (a sparse file or unwritten extents read as zeroes without any I/O).
make_image() { # storage -> path
	case $1 in
	tmpfs) dir=${BENCH_TMPFS_DIR:-/dev/shm} ;;
	direct) dir=${BENCH_DISK_DIR:-/var/tmp} ;;
	esac
	d=$(mktemp -d "$dir/vblk-bench.XXXXXX") || return 1
	printf '%s\n' "$d" >>"$TMP/imgdirs"
	mb=$(numfmt --from=iec "$SIZE")
	dd if=/dev/urandom of="$d/img" bs=1M count=$((mb / 1048576)) conv=fsync status=none || return 1
	echo "$d/img"
}

start() { # backend storage img
	rm -f "$TMP/sock"
	if [ "$2" = direct ]; then
		qdirect=on vdirect=,direct=on
	else
		qdirect=off vdirect=
	fi
	poll=
	case $1 in
	*-pin*) poll=$POLL_US ;;
	esac
	case $1 in
	fio*) return 0 ;;
	vblkd*)
		# writeback, like qsd's vhost-user-blk export default (writethrough=off):
		# the client decides durability with FLUSH in both cases.
		set -- "$VBLKD" --socket "$TMP/sock" --disk "$3,queues=2,writeback$vdirect${poll:+,poll-us=$poll}"
		;;
	qsd*)
		iot='' iotobj=''
		case $1 in
		qsd-iothread*)
			iot=,iothread=io0 iotobj="--object iothread,id=io0${poll:+,poll-max-ns=$((poll * 1000))}"
			;;
		esac
		# shellcheck disable=SC2086 # iotobj is two words or none
		set -- "$QSD" $iotobj \
			--blockdev driver=file,node-name=file0,filename="$3",cache.direct=$qdirect \
			--blockdev driver=raw,node-name=disk0,file=file0 \
			--export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path="$TMP/sock",writable=on,num-queues=2$iot
		;;
	esac
	# taskset execs the back end: $! stays its pid.
	[ -z "$poll" ] || set -- taskset -c "$BE_CPU" "$@"
	note_cmd "$@"
	"$@" >"$TMP/log" 2>&1 &
	PID=$!
	bench_wait_socket "bench: $1" "$TMP/sock" "$PID" "$TMP/log" && return 0
	stop
	return 1
}

stop() {
	bench_stop "$PID"
	PID=
}

# One run -> fio-layout JSON in $TMP/out.json.
run_one() { # backend storage img rw bs qd nq
	be=$1
	if [ "${be#fio}" != "$be" ]; then
		direct=0
		[ "$2" = direct ] && direct=1
		ms=$(awk -v s="$RUNTIME" 'BEGIN { printf "%d", s * 1000 }')
		set -- "$FIO" --name=bench --filename="$3" --ioengine=io_uring --direct=$direct \
			--rw="$4" --bs="$5" --iodepth="$6" --numjobs="$7" --group_reporting \
			--time_based --runtime="${ms}ms" --output-format=json
	else
		set -- "$VBLK" bench "$TMP/sock" --rw="$4" --bs="$5" --iodepth="$6" --queues="$7" \
			--runtime="$RUNTIME" --json
		[ "$be" != vblkd-pin-both ] || set -- "$@" --poll-us="$POLL_US"
	fi
	case $be in
	fio-pin | fio-pin-busy) set -- taskset -c "$BE_CPU" "$@" ;;
	*-pin*) set -- taskset -c 0 "$@" ;;
	esac
	note_cmd "$@"
	spin=
	if [ "$be" = fio-pin-busy ]; then
		taskset -c 0 sh -c 'while :; do :; done' &
		spin=$!
		# run_one runs in the matrix loop's subshell: cleanup finds it here.
		echo "$spin" >"$TMP/spin.pid"
	fi
	"$@" </dev/null >"$TMP/out.json" 2>"$TMP/err"
	rc=$?
	[ -z "$spin" ] || { kill "$spin" && wait "$spin"; rm -f "$TMP/spin.pid"; } 2>/dev/null
	return $rc
}

# fio's JSON (and vblk bench --json, same layout) -> IOPS MiB/s mean p50 p90 p99 p99.9 (µs).
row() {
	python3 - "$1" <<'PY'
import json, sys
job = json.load(open(sys.argv[1]))["jobs"][0]
r, w = job["read"], job["write"]
side = r if r["total_ios"] >= w["total_ios"] else w
c = side["clat_ns"]
p = c.get("percentile", {})
def us(v): return v / 1000
print("%.0f %.2f %.1f %.1f %.1f %.1f %.1f" % (side["iops"], side["bw"] / 1024, us(c["mean"]),
      us(p.get("50.000000", 0)), us(p.get("90.000000", 0)), us(p.get("99.000000", 0)),
      us(p.get("99.900000", 0))))
PY
}

loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

{
	echo "DATE='$(date -u '+%Y-%m-%d %H:%M UTC')'"
	echo "KERNEL='$(uname -srm)'"
	echo "NPROC='$(nproc)'"
	echo "CPU='$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)'"
	echo "LOAD_START='$(loadavg)'"
	echo "ROUNDS='$ROUNDS'"
	echo "RUNTIME='$RUNTIME'"
	echo "SIZE='$SIZE'"
	echo "QUICK='$QUICK'"
	echo "BACKENDS='$BACKENDS'"
	echo "PIN='$PIN'"
	echo "POLL_US='$POLL_US'"
	echo "BE_CPU='$BE_CPU'"
	echo "QSD_VERSION='$("$QSD" --version 2>/dev/null | head -1)'"
	echo "FIO_VERSION='$("$FIO" --version 2>/dev/null)'"
	echo "COMMIT='$(git -C "$HERE/.." describe --always --dirty 2>/dev/null)'"
} >"$META"

for st in $STORAGE; do
	CUR_ST=$st
	CUR_IMG=$(make_image "$st") || {
		echo "bench: cannot create the $st image" >&2
		exit 1
	}
	echo "DIR_$st='$(dirname "$(dirname "$CUR_IMG")")'" >>"$META"
	round=1
	while [ "$round" -le "$ROUNDS" ]; do
		# Rotate the order every round so no back end always runs first
		# (cold cache) or last (after the others warmed or fragmented it).
		order=$(echo "$BACKENDS" | tr ' ' '\n' | grep -v '^$' | awk -v r="$round" '
			{ a[NR] = $0 } END { for (i = 0; i < NR; i++) print a[(i + r - 1) % NR + 1] }')
		for be in $order; do
			start "$be" "$st" "$CUR_IMG" || continue
			matrix_of "$be" | while read -r rw bs qd nq; do
				if run_one "$be" "$st" "$CUR_IMG" "$rw" "$bs" "$qd" "$nq" &&
					nums=$(row "$TMP/out.json" 2>>"$TMP/err"); then
					printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$st" "$be" "$rw" "$bs" "$qd" "$nq" \
						"$round" "$(echo "$nums" | tr ' ' '\t')" >>"$RESULTS"
				else
					echo "bench: $st $be $rw $bs qd$qd q$nq failed: $(head -1 "$TMP/err")" >&2
					printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\tfailed\n' "$st" "$be" "$rw" "$bs" "$qd" "$nq" \
						"$round" >>"$RESULTS"
				fi
			done
			stop
			echo "bench: round $round/$ROUNDS $st $be done" >&2
		done
		round=$((round + 1))
	done
done
# Idle cost and memory of a connected guest that does no I/O (issue 14),
# when the idle front end is known (tests/bench/vblk_idle; ninja bench sets it).
IDLE_TSV=
if [ -n "${BENCH_IDLE_CLIENT:-}" ] && [ -n "$VBLKD" ]; then
	q=
	[ "$QUICK" = 1 ] && q=--quick
	PROFILE_BACKENDS="vblkd qsd" QSD=$QSD "$HERE/io-profile.sh" $q --idle-only --out /dev/null \
		--tsv "$TMP/idle.tsv" "$VBLK" "$VBLKD" "$BENCH_IDLE_CLIENT" && IDLE_TSV=$TMP/idle.tsv
fi
echo "LOAD_END='$(loadavg)'" >>"$META"
# The matrix, so the report lists a row for a run that failed every round too.
echo "$MATRIX" >"$TMP/matrix.txt"
echo "$PIN_MATRIX" >"$TMP/matrix-pin.txt"

# The raw runs stay next to the plots: bench_report.py can redo the report
# from them (python3 scripts/bench_report.py --results docs/bench/runs.tsv ...).
RAW=$(dirname "$REPORT")/bench
mkdir -p "$RAW" || exit 1
cp "$RESULTS" "$RAW/runs.tsv" && cp "$META" "$RAW/meta.env" && cp "$CMDS" "$RAW/commands.txt" &&
	cp "$TMP/matrix.txt" "$RAW/matrix.txt" && cp "$TMP/matrix-pin.txt" "$RAW/matrix-pin.txt" || exit 1
rm -f "$RAW/idle.tsv"
[ -z "$IDLE_TSV" ] || cp "$IDLE_TSV" "$RAW/idle.tsv" || exit 1
python3 "$HERE/bench_report.py" --results "$RAW/runs.tsv" --meta "$RAW/meta.env" \
	--commands "$RAW/commands.txt" --matrix "$RAW/matrix.txt" --pin-matrix "$RAW/matrix-pin.txt" --storage "$STORAGE" \
	--idle "$RAW/idle.tsv" --report "$REPORT" || exit 1
echo "bench: wrote $REPORT" >&2
