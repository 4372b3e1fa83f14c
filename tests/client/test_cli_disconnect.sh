#!/bin/sh
# SPDX-License-Identifier: MIT
# The back end dies (SIGKILL, so nothing is completed on the way out) while
# vblk bench (or, with "copy", vblk copy) keeps requests in flight: libvblk
# sees the socket hang up, completes what is outstanding with -ENOTCONN,
# and vblk exits 1 within a few seconds with one line saying the back end
# closed the connection.
VBLK=$1
. "$(dirname "$0")/backend.sh"
# copy: a large device, so the copy lasts far longer than the second we wait.
if [ "${2:-}" = copy ]; then start_backend 1G 2; else start_backend 64M 2; fi

if [ "${2:-}" = copy ]; then
	# Small requests, for the same reason.
	"$VBLK" copy "vhost-user:$SOCK" "$TMP/out" --request-size=512 --requests=4 \
		>"$TMP/bench.out" 2>"$TMP/bench.err" &
else
	"$VBLK" bench "$SOCK" --rw=randrw --bs=4k --iodepth=32 --queues=2 --runtime=30 \
		>"$TMP/bench.out" 2>"$TMP/bench.err" &
fi
bpid=$!
track $bpid
sleep 1
kill -0 "$bpid" 2>/dev/null || fail "${2:-bench} ended early: $(cat "$TMP/bench.err")"
kill -KILL "$BACKEND_PID"
wait "$BACKEND_PID" 2>/dev/null
BACKEND_PID=
i=0
while kill -0 "$bpid" 2>/dev/null; do
	i=$((i + 1))
	if [ $i -gt 100 ]; then
		kill -KILL "$bpid"
		fail "vblk ${2:-bench} still running 5 s after the back end died"
	fi
	sleep 0.05
done
wait "$bpid"
rc=$?
[ $rc -eq 1 ] || fail "${2:-bench} exit $rc, expected 1: $(cat "$TMP/bench.err")"
[ "$(wc -l <"$TMP/bench.err")" -eq 1 ] || fail "not one line: $(cat "$TMP/bench.err")"
grep -q "closed the connection" "$TMP/bench.err" || fail "unclear: $(cat "$TMP/bench.err")"
echo "after SIGKILL: $(cat "$TMP/bench.err")"
exit 0
