# SPDX-License-Identifier: MIT
# Sourced by the client integration tests: start a vhost-user-blk back end on
# a temporary image and stop it on exit.
#   VBLK_BACKEND=qsd (default) | vblkd     VBLKD=path/to/vblkd
# start_backend IMG_SIZE QUEUES  -> sets TMP, IMG, SOCK, SERIAL (expected GET_ID or "")
#   (an existing $TMP/disk.img keeps its data; BACKEND_UNMAP=1: qsd honours
#   discard and unmapping write-zeroes, as vblkd always does)
# Exit 77 (skip) when the selected back end is not available.
# VBLKD_DISK_OPTS=,OPT,...: more --disk options for vblkd.
# VBLK_TEST_PACKED=1: every vblk command the test runs gets --packed (a shim
# in $TMP stands in for $VBLK).

# Every process a test starts in the background is stopped on exit, however
# the test ends (success, fail, a signal from meson's timeout): the back end
# through BACKEND_PID, anything else through track PID. Tests must not set
# their own EXIT trap (it would replace this one): use track.
TMP=$(mktemp -d "${TMPDIR:-/tmp}/vblk-test.XXXXXX")
BACKEND_PID=
TRACKED_PIDS=

track() {
	TRACKED_PIDS="$TRACKED_PIDS $1"
}

# Is $1 still running (a zombie waiting to be reaped is not)?
alive() {
	case $(ps -o stat= -p "$1" 2>/dev/null) in
	'' | Z*) return 1 ;;
	esac
	return 0
}

# SIGTERM, up to 5 s to exit, then SIGKILL; a stopped process is continued first.
stop_pid() {
	kill -CONT "$1" 2>/dev/null
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do
		alive "$1" || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}

cleanup() {
	for p in $TRACKED_PIDS $BACKEND_PID; do
		stop_pid "$p"
	done
	rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' HUP INT TERM

if [ -n "${VBLK_TEST_PACKED:-}" ] && [ -n "${VBLK:-}" ]; then
	printf '#!/bin/sh\nexec "%s" "$@" --packed\n' "$VBLK" >"$TMP/vblk"
	chmod +x "$TMP/vblk"
	VBLK=$TMP/vblk
fi

start_backend() {
	IMG=$TMP/disk.img
	SOCK=$TMP/vhost.sock
	truncate -s "$1" "$IMG" || exit 1
	case "${VBLK_BACKEND:-qsd}" in
	qsd)
		QSD=${QSD:-qemu-storage-daemon}
		command -v "$QSD" >/dev/null 2>&1 || { echo "SKIP: $QSD not installed"; exit 77; }
		"$QSD" --blockdev driver=file,node-name=file0,filename="$IMG"${BACKEND_UNMAP:+,discard=unmap} \
			--blockdev driver=raw,node-name=disk0,file=file0${BACKEND_UNMAP:+,discard=unmap} \
			--export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path="$SOCK",writable=on,num-queues="$2" \
			>"$TMP/backend.log" 2>&1 &
		BACKEND_PID=$!
		SERIAL=vhost_user_blk
		;;
	vblkd)
		[ -n "$VBLKD" ] && [ -x "$VBLKD" ] || { echo "SKIP: VBLKD not set"; exit 77; }
		"$VBLKD" --socket "$SOCK" --disk "$IMG,queues=$2,serial=vblk-test${VBLKD_DISK_OPTS:-}" \
			>"$TMP/backend.log" 2>&1 &
		BACKEND_PID=$!
		SERIAL=vblk-test
		;;
	*)
		echo "unknown VBLK_BACKEND=$VBLK_BACKEND"; exit 1 ;;
	esac
	for _ in $(seq 100); do
		[ -S "$SOCK" ] && return 0
		kill -0 "$BACKEND_PID" 2>/dev/null || break
		sleep 0.05
	done
	echo "back end did not start:"; cat "$TMP/backend.log"
	exit 1
}

fail() {
	echo "FAIL: $*"
	[ -f "$TMP/backend.log" ] && { echo "--- back end log:"; cat "$TMP/backend.log"; }
	exit 1
}
