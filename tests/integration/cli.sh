#!/bin/bash
# SPDX-License-Identifier: MIT
# vblkd command line: errors are one line and the right exit status; --help
# and --print-capabilities follow vhost-user.rst "Backend program conventions".
set -u
vblkd=$1
tmp=$(mktemp -d /tmp/vblk-cli.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

# $1 = expected status, rest = arguments; stderr must be exactly one line.
expect() {
	local want=$1
	shift
	"$vblkd" "$@" >"$tmp/out" 2>"$tmp/err"
	local rc=$?
	[ $rc -eq "$want" ] || fail "vblkd $* exited $rc, want $want: $(cat "$tmp/err")"
	[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "vblkd $*: stderr is not one line: $(cat "$tmp/err")"
}

expect 1 --socket "$tmp/s" --disk "$tmp/missing.img"
[ -e "$tmp/s" ] && fail "socket created although the disk is missing"
expect 2 --bogus
expect 2 --socket "$tmp/s" --disk null:1M,nosuchoption
expect 2 --socket "$tmp/s" --disk null:1M,size=12Q
expect 2 --socket "$tmp/s" --disk null:1M,queues=0
expect 2 --socket "$tmp/s" --disk null:1M,serial=123456789012345678901
# Limits: positive numbers, not a total and a per-direction one, no burst without a rate.
expect 2 --socket "$tmp/s" --disk null:1M,iops=0
expect 2 --socket "$tmp/s" --disk null:1M,bps=1Q
expect 2 --socket "$tmp/s" --disk null:1M,iops=10,iops-wr=5
expect 2 --socket "$tmp/s" --disk null:1M,bps-rd=1M,bps-burst=64K,iops-burst=4
expect 2 --disk null:1M
expect 2 --socket "$tmp/s"
expect 2 --socket "$tmp/s" --fd 3 --disk null:1M
touch "$tmp/file"
expect 1 --socket "$tmp/file" --disk null:1M
[ -f "$tmp/file" ] || fail "a regular file at the socket path was replaced"

"$vblkd" --help >"$tmp/help" || fail "--help exited non-zero"
for opt in --socket --socket-path --fd --disk --print-capabilities --verbose \
	ro writethru writeback size= serial= queues= null: memory:; do
	grep -q -- "$opt" "$tmp/help" || fail "--help does not mention $opt"
done

"$vblkd" --print-capabilities >"$tmp/caps" || fail "--print-capabilities exited non-zero"
tr -d ' \n' <"$tmp/caps" | grep -qx '{"type":"block","features":\["blk-file","read-only"\]}' ||
	fail "unexpected capabilities: $(cat "$tmp/caps")"
if command -v python3 >/dev/null; then
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["type"]=="block"' \
		"$tmp/caps" || fail "capabilities are not valid JSON"
fi
exit 0
