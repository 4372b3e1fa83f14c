#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# io-profile.sh [OPTIONS] VBLK VBLKD IDLE_CLIENT: what one I/O costs each
# process, and what an idle connected guest costs the back end.
#
# Per-I/O cost: for vblkd and qemu-storage-daemon on the same image on tmpfs
# (and host fio, as the floor), 4k randread at qd1 and qd32, one queue. Each
# back end runs for exactly one measurement, started under GNU time
# (getrusage of the whole process at exit: CPU, voluntary and involuntary
# context switches, including threads that ended before it, like vblkd's
# queue threads at disconnect or qsd's pool workers, which per-thread
# /proc/PID/task/*/status would miss), and `vblk bench` runs under it too.
# The same is done once with a single request (--requests=1): the difference
# divided by the difference in I/Os is the per-I/O cost, without start,
# connect and exit. A second pass does it all again under a syscall counter
# (perf stat on the syscall tracepoints: counts in the kernel; strace -c -f
# where perf cannot, which is much slower) and takes only its counts.
#
# Idle cost: the back end with 1 and with 4 disks, one idle client per disk
# (IDLE_CLIENT SOCKET 1 SECONDS: connected, rings enabled, no I/O); after a
# settling second, CPU % from utime+stime in /proc/PID/stat over the idle
# window, then VmRSS, VmHWM and RssShmem (the client's shared memory the back
# end touched: rings) from /proc/PID/status.
#
# Options:
#   --quick       smoke run (~1 s of I/O, 1 s idle, 16M image): proves the
#                 script works; the figures mean little
#   --idle-only   only the idle cost and memory
#   --out FILE    markdown to FILE instead of stdout
#   --tsv FILE    also the numbers as tab-separated rows (see the end)
# Environment:
#   PROFILE_RUNTIME   seconds of I/O per run (default 3; quick 0.3)
#   PROFILE_IDLE      seconds of the idle window (default 10; quick 1)
#   PROFILE_SIZE      image size (default 256M; quick 16M)
#   PROFILE_BACKENDS  subset of "vblkd qsd fio" (default: all found)
#   PROFILE_TRACER    perf, strace, none or auto (default: perf if its
#                     syscall tracepoints count here, else strace)
#   PROFILE_SYSCALLS  "all": perf counts every syscall by name (slow to start)
#   PROFILE_DIR       where the images go (default /dev/shm)
#   QSD, FIO          program paths
set -u
QUICK=0 IDLE_ONLY=0 OUT= TSV=
while [ $# -gt 0 ]; do
	case $1 in
	--quick) QUICK=1 ;;
	--idle-only) IDLE_ONLY=1 ;;
	--out) OUT=$2 && shift ;;
	--tsv) TSV=$2 && shift ;;
	--) shift && break ;;
	-*)
		echo "io-profile: unknown option $1" >&2
		exit 2
		;;
	*) break ;;
	esac
	shift
done
[ $# -eq 3 ] || {
	echo "usage: io-profile.sh [--quick] [--idle-only] [--out FILE] [--tsv FILE] VBLK VBLKD IDLE_CLIENT" >&2
	exit 2
}
VBLK=$(realpath "$1") VBLKD=$(realpath "$2") IDLE=$(realpath "$3")
if [ "$QUICK" = 1 ]; then
	RUNTIME=${PROFILE_RUNTIME:-0.3} IDLE_SECS=${PROFILE_IDLE:-1} SIZE=${PROFILE_SIZE:-16M}
else
	RUNTIME=${PROFILE_RUNTIME:-3} IDLE_SECS=${PROFILE_IDLE:-10} SIZE=${PROFILE_SIZE:-256M}
fi
QSD=${QSD:-qemu-storage-daemon}
FIO=${FIO:-fio}
GNUTIME=/usr/bin/time
for p in "$VBLK" "$VBLKD" "$IDLE" "$GNUTIME" python3; do
	command -v "$p" >/dev/null 2>&1 || {
		echo "io-profile: $p not found (scripts/install-deps.sh bench)" >&2
		exit 1
	}
done

BACKENDS=
for be in ${PROFILE_BACKENDS:-vblkd qsd fio}; do
	case $be in
	vblkd) prog=$VBLKD ;;
	qsd) prog=$QSD ;;
	fio) prog=$FIO ;;
	*)
		echo "io-profile: unknown back end $be" >&2
		exit 2
		;;
	esac
	if command -v "$prog" >/dev/null 2>&1; then
		BACKENDS="$BACKENDS $be"
	else
		echo "io-profile: $be: '$prog' not found, left out" >&2
	fi
done

# perf's hardware counters need a PMU (a Firecracker VM has none); its
# syscall tracepoints only need tracefs and perf_event_paranoid <= 1 (or root).
TRACER=${PROFILE_TRACER:-auto}
if [ "$TRACER" = auto ]; then
	if command -v perf >/dev/null 2>&1 &&
		perf stat -x, -e syscalls:sys_enter_getppid -- sh -c : 2>&1 >/dev/null | grep -q '^[0-9]'; then
		TRACER=perf
	elif command -v strace >/dev/null 2>&1; then
		TRACER=strace
	else
		TRACER=none
	fi
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-io-profile.XXXXXX")
IMGDIR=$(mktemp -d "${PROFILE_DIR:-/dev/shm}/vblk-io-profile.XXXXXX") || exit 1
WRAP= PIDS= MAIN=$BASHPID
cleanup() {
	# Only the script itself: a background subshell that fails must not remove the files.
	[ "$BASHPID" = "$MAIN" ] || return 0
	# The back end itself: GNU time and perf above it would not pass SIGTERM on.
	[ -z "$WRAP" ] || [ ! -s "$TMP/bpid" ] || kill "$(cat "$TMP/bpid")" 2>/dev/null
	for p in $PIDS $WRAP; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$TMP" "$IMGDIR"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM
RAW=$TMP/raw
mkdir -p "$RAW"
{
	echo "date	$(date -u '+%Y-%m-%d %H:%M UTC')"
	echo "kernel	$(uname -srm)"
	echo "nproc	$(nproc)"
	echo "load	$(cut -d' ' -f1-3 /proc/loadavg)"
	echo "tracer	$TRACER"
	echo "runtime	$RUNTIME"
	echo "idle	$IDLE_SECS"
	echo "size	$SIZE"
	echo "quick	$QUICK"
	echo "qsd	$("$QSD" --version 2>/dev/null | head -1)"
	echo "commit	$(git -C "$(dirname "$0")/.." describe --always --dirty 2>/dev/null)"
} >"$RAW/meta.tsv"

# The syscalls perf counts by name (each tracepoint costs perf ~40 ms to
# enable, so not all ~360: raw_syscalls:sys_enter gives the total and the
# report shows the rest as "other"; PROFILE_SYSCALLS=all counts every one).
SYSCALLS="read write readv writev pread64 pwrite64 preadv pwritev preadv2 pwritev2 epoll_wait
epoll_pwait poll ppoll io_uring_enter futex recvmsg sendmsg ioctl rt_sigprocmask mmap munmap
mprotect madvise clone3 sched_yield clock_nanosleep"
if [ "${PROFILE_SYSCALLS:-}" = all ]; then
	PERF_EV=(-e 'syscalls:sys_enter_*')
else
	PERF_EV=(-e raw_syscalls:sys_enter -e "$(for s in $SYSCALLS; do printf 'syscalls:sys_enter_%s,' "$s"; done | sed 's/,$//')")
fi

# Run a command under GNU time (getrusage at exit, into $1.time) and, when
# TRACE=1, under the syscall counter too (into $1.perf or $1.strace).
TRACE=0
measured() { # outprefix cmd...
	local o=$1
	shift
	set -- "$GNUTIME" -f '%e %U %S %w %c %M' -o "$o.time" "$@"
	[ "$TRACE" = 1 ] || {
		"$@"
		return
	}
	case $TRACER in
	perf) set -- "${@:1:5}" perf stat -x, -o "$o.perf" "${PERF_EV[@]}" -- "${@:6}" ;;
	strace) set -- "${@:1:5}" strace -qq -c -f -o "$o.strace" -- "${@:6}" ;;
	esac
	"$@"
}

# The back end's command line for N disks: sockets $TMP/sockI, images $IMGDIR/imgI.
backend_cmd() { # backend ndisks queues
	local i
	BCMD=()
	case $1 in
	vblkd)
		BCMD=("$VBLKD" -q)
		for ((i = 0; i < $2; i++)); do
			BCMD+=(--socket "$TMP/sock$i" --disk "$IMGDIR/img$i,queues=$3,writeback")
		done
		;;
	qsd)
		BCMD=("$QSD")
		for ((i = 0; i < $2; i++)); do
			BCMD+=(--blockdev "driver=file,node-name=file$i,filename=$IMGDIR/img$i,cache.direct=off"
				--blockdev "driver=raw,node-name=disk$i,file=file$i"
				--export "type=vhost-user-blk,id=exp$i,node-name=disk$i,addr.type=unix,addr.path=$TMP/sock$i,writable=on,num-queues=$3")
		done
		;;
	esac
}

# Start the back end (in the background, its pid in BPID once it listens).
start_backend() { # backend ndisks queues [outprefix: measured]
	local i
	backend_cmd "$1" "$2" "$3"
	rm -f "$TMP"/sock* "$TMP/bpid"
	if [ -n "${4:-}" ]; then
		# The wrapper shell records the back end's own pid, then becomes it.
		measured "$4" sh -c 'echo $$ >"$0"; exec "$@"' "$TMP/bpid" "${BCMD[@]}" >"$TMP/blog" 2>&1 &
	else
		sh -c 'echo $$ >"$0"; exec "$@"' "$TMP/bpid" "${BCMD[@]}" >"$TMP/blog" 2>&1 &
	fi
	WRAP=$!
	for _ in $(seq 400); do
		i=0
		while [ $i -lt "$2" ] && [ -S "$TMP/sock$i" ]; do i=$((i + 1)); done
		if [ $i -eq "$2" ] && [ -s "$TMP/bpid" ]; then
			BPID=$(cat "$TMP/bpid")
			return 0
		fi
		kill -0 "$WRAP" 2>/dev/null || break
		sleep 0.05
	done
	echo "io-profile: $1 did not start:" >&2
	cat "$TMP/blog" >&2
	stop_backend
	return 1
}

stop_backend() {
	[ -n "$WRAP" ] || return 0
	[ -s "$TMP/bpid" ] && kill "$(cat "$TMP/bpid")" 2>/dev/null
	wait "$WRAP" 2>/dev/null
	WRAP=
}

make_images() { # count
	local i mb
	mb=$(($(numfmt --from=iec "$SIZE") / 1048576))
	for ((i = 0; i < $1; i++)); do
		[ -e "$IMGDIR/img$i" ] && continue
		if [ "$i" = 0 ]; then
			# Real data: a sparse file's holes read as zeroes without a page-cache copy.
			dd if=/dev/urandom of="$IMGDIR/img0" bs=1M count="$mb" status=none || return 1
		else
			truncate -s "$SIZE" "$IMGDIR/img$i" || return 1
		fi
	done
}

# One per-I/O measurement: a full run and a one-request run, each with a
# fresh back end; once untraced (CPU, context switches, IOPS) and once under
# the syscall counter (its counts only: it slows the processes down).
profile_io() { # backend qd
	local be=$1 qd=$2 pass kind o rc
	for pass in cost sys; do
		[ $pass = sys ] && [ "$TRACER" = none ] && continue
		TRACE=0
		[ $pass = sys ] && TRACE=1
		for kind in run base; do
			o=$RAW/$be-qd$qd-$pass-$kind
			if [ "$be" = fio ]; then
				if [ $kind = run ]; then
					len=(--time_based "--runtime=$(awk -v s="$RUNTIME" 'BEGIN { printf "%d", s * 1000 }')ms")
				else
					len=(--io_size=4k)
				fi
				measured "$o.c" "$FIO" --name=profile --filename="$IMGDIR/img0" --ioengine=io_uring \
					--direct=0 --rw=randread --bs=4k --iodepth="$qd" "${len[@]}" \
					--output-format=json >"$o.json" 2>"$o.err" || return 1
				continue
			fi
			start_backend "$be" 1 2 "$o.b" || return 1
			if [ $kind = run ]; then len=(--runtime="$RUNTIME"); else len=(--requests=1); fi
			measured "$o.c" "$VBLK" bench "$TMP/sock0" --rw=randread --bs=4k --iodepth="$qd" \
				--queues=1 "${len[@]}" --json </dev/null >"$o.json" 2>"$o.err"
			rc=$?
			stop_backend
			[ $rc -eq 0 ] || {
				echo "io-profile: $be qd$qd $kind: vblk bench failed: $(head -3 "$o.err")" >&2
				return 1
			}
		done
	done
}

cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Idle cost: N disks, one idle client each, CPU over the idle window and memory after it.
profile_idle() { # backend ndisks
	local be=$1 n=$2 i t0 t1 s0 s1
	start_backend "$be" "$n" 1 || return 1
	PIDS=
	for ((i = 0; i < n; i++)); do
		"$IDLE" "$TMP/sock$i" 1 "$(awk -v s="$IDLE_SECS" 'BEGIN { print s + 3 }')" >"$TMP/idle$i.out" 2>&1 &
		PIDS="$PIDS $!"
	done
	for _ in $(seq 200); do
		[ "$(cat "$TMP"/idle*.out 2>/dev/null | grep -c '^connected$')" -eq "$n" ] && break
		sleep 0.05
	done
	[ "$(cat "$TMP"/idle*.out | grep -c '^connected$')" -eq "$n" ] || {
		echo "io-profile: $be: the idle clients did not connect: $(cat "$TMP"/idle*.out)" >&2
		stop_backend
		return 1
	}
	sleep 1
	t0=$(date +%s.%N) s0=$(cpu_ticks "$BPID")
	sleep "$IDLE_SECS"
	t1=$(date +%s.%N) s1=$(cpu_ticks "$BPID")
	{
		printf 'backend\t%s\ndisks\t%s\nticks\t%s\nsecs\t%s\nhz\t%s\nthreads\t%s\n' "$be" "$n" \
			$((s1 - s0)) "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" \
			"$(getconf CLK_TCK)" "$(ls "/proc/$BPID/task" | wc -l)"
		grep -E '^(VmRSS|VmHWM|RssAnon|RssFile|RssShmem):' "/proc/$BPID/status" | tr -d ':' | awk '{ print $1 "\t" $2 }'
	} >"$RAW/idle-$be-$n.tsv"
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	wait $PIDS 2>/dev/null
	PIDS=
	rm -f "$TMP"/idle*.out
	stop_backend
}

make_images 4 || {
	echo "io-profile: cannot create the images in $IMGDIR" >&2
	exit 1
}
failed=0
if [ "$IDLE_ONLY" = 0 ]; then
	for be in $BACKENDS; do
		for qd in 1 32; do
			profile_io "$be" "$qd" || failed=1
			echo "io-profile: $be qd$qd done" >&2
		done
	done
fi
for be in $BACKENDS; do
	[ "$be" = fio ] && continue
	for n in 1 4; do
		profile_idle "$be" "$n" || failed=1
		echo "io-profile: $be idle with $n disk(s) done" >&2
	done
done
echo "end_load	$(cut -d' ' -f1-3 /proc/loadavg)" >>"$RAW/meta.tsv"

python3 "$(dirname "$0")/io_profile_report.py" "$RAW" "${OUT:--}" "${TSV:-}" || exit 1
exit $failed
