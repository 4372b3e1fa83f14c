#!/bin/sh
# SPDX-License-Identifier: MIT
# vblkd's poll-us=N (docs/polling.md): a bad value is refused at start with
# one line naming the option and the range; with polling on, a queue that
# was busy and then goes idle while its client stays connected does not
# keep burning CPU (the window shrinks to nothing): vblkd's utime+stime
# over 3 s of idleness stays under 30 % of one core, and so does the time
# its threads ran or waited to run (a spinning thread on a loaded machine
# gets little CPU but is runnable all along). A behaviour bound, not a
# speed: a queue thread that kept spinning would be near 100 %.
VBLK=$1
. "$(dirname "$0")/backend.sh"
[ -n "${VBLKD:-}" ] && [ -x "$VBLKD" ] || { echo "SKIP: VBLKD not set"; exit 77; }

truncate -s 16M "$TMP/bad.img" || exit 1
for v in abc -5 10001 2000000 99999999999999999999999 ''; do
	"$VBLKD" --socket "$TMP/bad.sock" --disk "$TMP/bad.img,poll-us=$v" >"$TMP/bad.out" 2>&1 &
	pid=$!
	track $pid
	i=0
	while alive $pid; do
		i=$((i + 1))
		[ $i -le 100 ] || fail "poll-us=$v: vblkd still running after 5 s"
		sleep 0.05
	done
	wait $pid && fail "poll-us=$v accepted"
	grep -q "poll-us must be 0\.\.10000" "$TMP/bad.out" ||
		fail "poll-us=$v: no clear message: $(cat "$TMP/bad.out")"
	[ ! -e "$TMP/bad.sock" ] || fail "poll-us=$v: the socket was created"
done
echo "bad values refused: $(head -1 "$TMP/bad.out")"

# shellcheck disable=SC2034 # read by start_backend (backend.sh)
VBLKD_DISK_OPTS=,poll-us=1000
start_backend 64M 1
# Busy first, so the window has grown, then idle with the client connected:
# SIGSTOP holds vblk bench (and its connection) with nothing more sent.
"$VBLK" bench "$SOCK" --rw=randread --bs=4k --iodepth=1 --runtime=60 \
	>"$TMP/bench.out" 2>&1 &
bpid=$!
track $bpid
sleep 1.5
alive $bpid || fail "vblk bench ended early: $(cat "$TMP/bench.out")"
kill -STOP $bpid
sleep 0.5

ticks() { # utime + stime (proc(5) fields 14, 15), in clock ticks
	sed 's/.*) //' "/proc/$BACKEND_PID/stat" | awk '{ print $12 + $13 }'
}
# Time on a CPU plus time runnable waiting for one, in ns, over every
# thread: on a loaded machine a spinning thread gets little CPU but is
# runnable all along, so this catches it whatever the load (0 without
# schedstats, and then only the CPU time counts).
busy_ns() {
	cat /proc/"$BACKEND_PID"/task/*/schedstat 2>/dev/null |
		awk '{ s += $1 + $2 } END { printf "%.0f\n", s }'
}
t0=$(ticks)
b0=$(busy_ns)
sleep 3
t1=$(ticks)
b1=$(busy_ns)
hz=$(getconf CLK_TCK)
used=$((t1 - t0))
busy_ms=$(((b1 - b0) / 1000000))
echo "idle: vblkd used $used ticks in 3 s ($hz per second), ran or was runnable $busy_ms ms"
[ $((used * 100)) -lt $((3 * hz * 30)) ] ||
	fail "an idle queue with poll-us=1000 kept vblkd busy: $used ticks in 3 s"
[ "$busy_ms" -lt 900 ] ||
	fail "an idle queue with poll-us=1000 kept vblkd runnable: $busy_ms ms in 3 s"

# And it still serves the client once that goes on.
kill -CONT $bpid
kill $bpid
wait $bpid 2>/dev/null
"$VBLK" read "$SOCK" 0 4096 >/dev/null || fail "read after the idle period"
exit 0
