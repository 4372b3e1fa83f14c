#!/bin/sh
# SPDX-License-Identifier: MIT
# libvblk and vblk against hostile back ends (fake_backend.py): one that never
# answers, one that sends half a reply header, one that trickles a reply, one
# that answers the wrong request, one that hangs up. vblk_open() fails within
# its deadline with the right -errno and a sentence (also given to the log
# callback), nothing on stderr; `vblk info` exits 1 with one line.
# test_client_hostile.sh VBLK TEST_CLIENT_DEADLINE FAKE_BACKEND_PY
VBLK=$1
PROG=$2
FAKE=$3
. "$(dirname "$0")/backend.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }

# fake MODE: start a fake back end on a fresh socket, set SOCK.
n=0
fake() {
	n=$((n + 1))
	SOCK=$TMP/fake$n.sock
	python3 "$FAKE" "$SOCK" "$1" 2>>"$TMP/backend.log" &
	track $!
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		sleep 0.05
	done
	fail "fake back end ($1) did not start"
}

# expect MODE ERRNAME SUBSTRING TIMEOUT_MS
expect() {
	fake "$1"
	VBLK_SOCK=$SOCK "$PROG" open "$2" "$3" "$4" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	cat "$TMP/out"
	[ $rc -eq 0 ] || fail "$1: $(cat "$TMP/err")"
	[ -s "$TMP/err" ] && fail "$1: libvblk wrote to stderr: $(cat "$TMP/err")"
	return 0
}

expect silent ETIMEDOUT "did not answer GET_FEATURES within 1000 ms" 1000
expect half ETIMEDOUT "sent 6 bytes of its GET_FEATURES reply" 1000
# 20 bytes at 2 per second: each byte comes well within the deadline, the
# reply does not. The deadline is per exchange, not per byte.
expect trickle ETIMEDOUT "bytes of its GET_FEATURES reply" 2000
expect wrong EPROTO "unexpected message 15 (GET_PROTOCOL_FEATURES) in reply to GET_FEATURES" 1000
expect hangup ECONNRESET "closed the connection before answering GET_FEATURES" 1000
# Never accepted: the first connection sits in the backlog and gets no
# answer; the next connect() finds the backlog full and must not wait forever.
expect noaccept ETIMEDOUT "did not answer GET_FEATURES within 1000 ms" 1000
VBLK_SOCK=$SOCK "$PROG" open ETIMEDOUT "listen queue stayed full for 1000 ms" 1000 \
	>"$TMP/out" 2>"$TMP/err" || fail "noaccept, backlog full: $(cat "$TMP/out" "$TMP/err")"
[ -s "$TMP/err" ] && fail "noaccept: libvblk wrote to stderr: $(cat "$TMP/err")"
cat "$TMP/out"

# The CLI: default deadline (5 s) and --timeout; one line, exit 1.
fake silent
t0=$(date +%s)
"$VBLK" info "$SOCK" >"$TMP/out" 2>"$TMP/err"
rc=$?
t=$(($(date +%s) - t0))
echo "vblk info against a silent back end: exit $rc after ${t}s: $(cat "$TMP/err")"
[ $rc -eq 1 ] || fail "vblk info: exit $rc, expected 1"
[ $t -le 15 ] || fail "vblk info took ${t}s with the default 5 s deadline"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "not one line: $(cat "$TMP/err")"
grep -q "did not answer GET_FEATURES within 5000 ms" "$TMP/err" || fail "unclear: $(cat "$TMP/err")"
[ -s "$TMP/out" ] && fail "vblk info wrote to stdout"

fake half
"$VBLK" info "$SOCK" --timeout=500 >/dev/null 2>"$TMP/err" && fail "half header accepted"
grep -q "sent 6 bytes of its GET_FEATURES reply, then nothing for the rest of 500 ms" "$TMP/err" ||
	fail "unclear: $(cat "$TMP/err")"
echo "vblk info --timeout=500 against half a header: $(cat "$TMP/err")"
"$VBLK" info "$SOCK" --timeout=0 >/dev/null 2>&1
[ $? -eq 2 ] || fail "--timeout=0 not a usage error"
exit 0
