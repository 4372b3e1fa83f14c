#!/bin/sh
# SPDX-License-Identifier: MIT
# run_c.sh PROGRAM QUEUES [ARG...]: run a libvblk C test against a fresh back
# end (VBLK_SOCK, VBLK_IMG, VBLK_SERIAL, BACKEND_PID in its environment).
# libvblk never prints: when the program passes, its stderr must be empty.
. "$(dirname "$0")/backend.sh"
prog=$1
start_backend 64M "$2"
shift 2
VBLK_SOCK=$SOCK VBLK_IMG=$IMG VBLK_SERIAL=$SERIAL BACKEND_PID=$BACKEND_PID "$prog" "$@" \
	2>"$TMP/stderr"
rc=$?
cat "$TMP/stderr" >&2
[ $rc -eq 0 ] || [ $rc -eq 77 ] || fail "$prog exit $rc"
[ $rc -eq 77 ] || [ ! -s "$TMP/stderr" ] || fail "something wrote to stderr (see above)"
exit $rc
