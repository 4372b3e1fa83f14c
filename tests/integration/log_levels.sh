#!/bin/bash
# SPDX-License-Identifier: MIT
# vblkd's log: every line starts "vblkd: LEVEL: "; -q keeps only warnings
# and errors; --log-level debug shows each vhost-user message; with stderr
# being the journal stream (JOURNAL_STREAM=DEV:INODE of stderr) each line
# carries its sd-daemon(3) priority prefix ("<6>" for info).
#   log_levels.sh MODE VBLKD VBLK     MODE: default|quiet|debug|journal
set -u
mode=$1 vblkd=$2 vblk=$3
tmp=$(mktemp -d /tmp/vblk-log.XXXXXX)
sock=$tmp/vhost.sock log=$tmp/daemon.log pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	cat "$log" >&2
	exit 1
}
case "$mode" in
default) args=() ;;
quiet) args=(-q) ;;
debug) args=(--log-level debug) ;;
journal) args=() ;;
*) echo "unknown mode $mode" >&2; exit 2 ;;
esac
: >"$log"
if [ "$mode" = journal ]; then
	export JOURNAL_STREAM=$(stat -c '%d:%i' "$log")
fi
"$vblkd" "${args[@]}" --socket "$sock" --disk null:1M 2>>"$log" &
pid=$!
for ((i = 0; i < 100; i++)); do [ -S "$sock" ] && break; sleep 0.05; done
[ -S "$sock" ] || fail "no socket"
"$vblk" info "$sock" >/dev/null || fail "vblk info failed"
kill -TERM "$pid"
wait "$pid" || fail "vblkd exited non-zero"
pid=
[ -s "$log" ] || [ "$mode" = quiet ] || fail "empty log"
case "$mode" in
default)
	grep -q '^vblkd: info: serving null:1M' "$log" || fail "no info line"
	grep -vq '^vblkd: ' "$log" && fail "a line without the vblkd: prefix"
	grep -q 'debug:' "$log" && fail "debug lines at the default level"
	;;
quiet)
	grep -q 'info:' "$log" && fail "-q still logs info lines"
	;;
debug)
	grep -q '^vblkd: debug: disk0: <- GET_FEATURES' "$log" || fail "no message trace (named for its export) at debug level"
	;;
journal)
	grep -q '^<6>vblkd: info: serving' "$log" || fail "no journal priority prefix"
	grep -vq '^<[3467]>vblkd: ' "$log" && fail "a line without a priority prefix"
	;;
esac
exit 0
