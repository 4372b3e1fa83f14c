#!/bin/bash
# SPDX-License-Identifier: MIT
# SIGTERM with I/O in flight: `vblk bench` keeps 32 random 4 KiB writes in
# flight against vblkd, and vblkd gets SIGTERM in the middle of the run.
# vblkd must stop taking new requests, complete the ones it has popped (the
# client sees completions, then the disconnect - never a hang), flush, remove
# its socket and exit 0. The check is repeated a few times at different
# moments of the run. The client must notice the hang-up (libvblk watches
# its vhost-user socket while it waits): the requests the daemon never took
# complete with -ENOTCONN and vblk bench exits non-zero within a few seconds
# with one line saying the back end closed the connection.
#   sigterm.sh VBLKD VBLK
# Exit 0 pass, 1 fail.
set -u
vblkd=$1 vblk=$2
tmp=$(mktemp -d /tmp/vblk-sigterm.XXXXXX)
img=$tmp/disk.img sock=$tmp/vhost.sock log=$tmp/daemon.log blog=$tmp/bench.log
pid= bpid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	[ -n "$bpid" ] && kill -KILL "$bpid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log:" >&2
	cat "$log" >&2
	echo "--- bench output:" >&2
	cat "$blog" >&2
	exit 1
}

# wait_gone PID SECS: 0 once PID has exited, 1 if it is still there after SECS.
wait_gone() {
	local i
	for ((i = 0; i < $2 * 20; i++)); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.05
	done
	return 1
}

truncate -s 64M "$img" || exit 1
for delay in 0.5 1.2 2.0; do
	: >"$log"
	"$vblkd" --socket "$sock" --disk "$img" -v >"$log" 2>&1 &
	pid=$!
	for _ in $(seq 200); do
		[ -S "$sock" ] && break
		kill -0 "$pid" 2>/dev/null || fail "vblkd exited before creating its socket"
		sleep 0.05
	done
	[ -S "$sock" ] || fail "vblkd did not create $sock"

	"$vblk" bench "$sock" --rw=randwrite --bs=4k --iodepth=32 --runtime=5 >"$blog" 2>&1 &
	bpid=$!
	sleep "$delay"
	kill -0 "$bpid" 2>/dev/null || fail "bench ended before SIGTERM (delay $delay s)"
	kill -TERM "$pid"
	wait_gone "$pid" 10 || fail "vblkd still running 10 s after SIGTERM"
	wait "$pid"
	rc=$?
	pid=
	[ $rc -eq 0 ] || fail "vblkd exited $rc after SIGTERM"
	[ -e "$sock" ] && fail "vblkd left $sock behind"
	grep -q 'finishing in-flight requests' "$log" || fail "vblkd did not log its shutdown"
	# The client gets its completions and then the disconnect: it must end.
	wait_gone "$bpid" 5 || fail "vblk bench still running 5 s after vblkd exited"
	wait "$bpid"
	brc=$?
	bpid=
	# Whatever the bench saw (all done, or the disconnect), it ends with one
	# line; a disconnect with I/O outstanding is a failure of the run.
	if [ $brc -ne 0 ]; then
		[ "$(grep -c '^vblk: ' "$blog")" -eq 1 ] ||
			fail "vblk bench exited $brc without exactly one error line"
		grep -q 'closed the connection' "$blog" ||
			fail "vblk bench exited $brc, but not because of the disconnect"
	fi
	# Intake stops at SIGTERM, so the client may see its later requests fail
	# with the disconnect, but never a completion with an error status.
	grep -qi 'I/O error\|Input/output error' "$blog" &&
		fail "the client saw an I/O error status instead of a completion or disconnect"
	echo "delay $delay s: vblkd exit 0, socket removed; bench: $(tail -1 "$blog")"
done
exit 0
