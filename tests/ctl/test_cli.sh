#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# vblk ctl (human and --json output, exit statuses) against a vblkd with two
# exports, and vblkd's rule for several exports on the command line: an
# option the export being described already has starts the next one; names
# must be unique and valid, and every export needs a disk and a socket.
set -u
vblkd=$1 vblk=$2
tmp=$(mktemp -d /tmp/vblk-ctl-cli.XXXXXX)
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	[ -f "$tmp/log" ] && { echo "--- vblkd log:" >&2; cat "$tmp/log" >&2; }
	exit 1
}

# Usage errors: exit 2, one line, nothing started.
usage() {
	"$vblkd" "$@" >"$tmp/out" 2>&1
	local rc=$?
	[ $rc -eq 2 ] || fail "vblkd $* exited $rc, want 2: $(cat "$tmp/out")"
	[ "$(wc -l <"$tmp/out")" -eq 1 ] || fail "vblkd $*: not one line: $(cat "$tmp/out")"
}
usage --disk null:1M --socket "$tmp/a" --name x --disk null:1M --socket "$tmp/b" --name x
usage --disk null:1M --socket "$tmp/a" --socket "$tmp/b"
usage --disk null:1M --socket "$tmp/a" --disk null:1M
usage --disk null:1M --socket "$tmp/a" --name 'a b'
usage --disk null:1M --socket "$tmp/a" --disk null:1M,bogus --socket "$tmp/b"
# An export named disk1 by position clashes with one named so.
usage --disk null:1M --socket "$tmp/a" --name disk1 --disk null:1M --socket "$tmp/b"
ls "$tmp"/a "$tmp"/b 2>/dev/null && fail "a usage error left a socket"

"$vblkd" --control "$tmp/ctl" --socket "$tmp/a.sock" --disk memory:2M --name first \
	--disk null:1G --socket "$tmp/b.sock" >"$tmp/log" 2>&1 &
pid=$!
for _ in $(seq 200); do
	[ -S "$tmp/ctl" ] && [ -S "$tmp/b.sock" ] && break
	kill -0 "$pid" 2>/dev/null || fail "vblkd exited"
	sleep 0.05
done
[ -S "$tmp/ctl" ] || fail "no control socket"
[ "$(stat -c %a "$tmp/ctl")" = 600 ] || fail "control socket mode $(stat -c %a "$tmp/ctl")"

out=$("$vblk" ctl "$tmp/ctl" export_list) || fail "export_list: $out"
echo "$out" | grep -q '^NAME' || fail "no header: $out"
echo "$out" | grep -qE '^first +idle +2M .*a\.sock +memory:2M$' || fail "first: $out"
echo "$out" | grep -qE '^disk1 +idle +1G .*b\.sock +null:1G$' || fail "disk1: $out"
"$vblk" ctl "$tmp/ctl" export_list --json >"$tmp/json" || fail "--json failed"
python3 -c '
import json, sys
x = json.load(open(sys.argv[1]))
assert [e["name"] for e in x] == ["first", "disk1"], x
assert x[1]["size"] == 1 << 30 and x[1]["connected"] is False, x
' "$tmp/json" || fail "--json output: $(cat "$tmp/json")"

out=$("$vblk" ctl "$tmp/ctl" export_add name=third socket="$tmp/c.sock" disk=memory:1M,ro) ||
	fail "export_add: $out"
echo "$out" | grep -q '^read_only: true$' || fail "export_add output: $out"
"$vblk" info "$tmp/c.sock" | grep -q 'read-only' || fail "the added export is not read-only"
out=$("$vblk" ctl "$tmp/ctl" export_remove name=third) || fail "export_remove: $out"
[ "$out" = "name: third" ] || fail "export_remove output: $out"

"$vblk" ctl "$tmp/ctl" export_remove name=third >"$tmp/out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "removing a missing export exited $rc"
grep -q "no export named 'third'" "$tmp/out" || fail "error: $(cat "$tmp/out")"
"$vblk" ctl "$tmp/ctl" >"$tmp/out" 2>&1
[ $? -eq 2 ] || fail "vblk ctl without a method: not a usage error"
"$vblk" ctl "$tmp/ctl" export_list oops >"$tmp/out" 2>&1
[ $? -eq 2 ] || fail "a parameter without = is not a usage error"
"$vblk" ctl "$tmp/nowhere" export_list >"$tmp/out" 2>&1
[ $? -eq 1 ] || fail "a missing control socket did not fail"

kill -TERM "$pid"
wait "$pid" || fail "vblkd exited $? after SIGTERM"
pid=
for f in ctl a.sock b.sock; do
	[ -e "$tmp/$f" ] && fail "$f left behind"
done
exit 0
