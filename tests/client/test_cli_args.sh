#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk's command-line conventions: numbers are decimal whatever their
# leading zeros ("010" is byte 10, not octal 8), suffixes K..T and KiB..TiB
# but not hex or KB; an option takes its value as --name=VALUE or
# --name VALUE, before or after the operands; "--" ends the options; a
# mistake is one line on stderr and exit status 2.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 16M 1

# $1 = expected status, rest = the vblk command; stderr must be one line.
expect() {
	want=$1
	shift
	"$VBLK" "$@" >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ $rc -eq "$want" ] || fail "vblk $* exited $rc, want $want: $(cat "$TMP/err")"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "vblk $*: stderr is not one line: $(cat "$TMP/err")"
}

printf 'ABCDEFGHIJKLMNOPQRSTUVWXYZ' | "$VBLK" write "$SOCK" 0 || fail "write"
[ "$("$VBLK" read "$SOCK" 010 4)" = KLMN ] || fail "read at 010 is not byte 10 (octal?)"
[ "$("$VBLK" read "$SOCK" 10 04)" = KLMN ] || fail "length 04"
# Suffixes, and their KiB spelling.
printf 'kib' | "$VBLK" write "$SOCK" 1KiB || fail "write at 1KiB"
[ "$("$VBLK" read "$SOCK" 1024 3)" = kib ] || fail "1KiB is not 1024"
[ "$("$VBLK" read "$SOCK" 1k 3)" = kib ] || fail "1k is not 1024"
expect 2 read "$SOCK" 0x10 4
expect 2 read "$SOCK" 1KB 4
expect 2 read "$SOCK" 1Ki 4

# An option's value in the same word or the next; options after operands.
[ "$("$VBLK" read --timeout 3000 "$SOCK" 10 4)" = KLMN ] || fail "--timeout 3000"
[ "$("$VBLK" read "$SOCK" 10 4 --timeout=3000)" = KLMN ] || fail "--timeout=3000"
expect 2 read "$SOCK" 10 4 --timeout
expect 2 read "$SOCK" 10 4 --timeout=0
expect 2 read "$SOCK" 10 4 --bogus
grep -q -- "--bogus" "$TMP/err" || fail "the unknown option is not named: $(cat "$TMP/err")"
expect 2 read "$SOCK" 10 4 --packed=1
grep -q "takes no value" "$TMP/err" || fail "--packed=1: $(cat "$TMP/err")"
# "--" ends the options: a socket whose name starts with a dash.
ln -s "$SOCK" "$TMP/-sock" || exit 1
[ "$(cd "$TMP" && "$VBLK" read -- -sock 010 4)" = KLMN ] || fail "read -- -sock"
(cd "$TMP" && expect 2 read -sock 10 4) || exit 1

# bench writes over the data above: last.
"$VBLK" bench "$SOCK" --rw read --bs 8k --iodepth 2 --runtime 0.2 --json >"$TMP/b1" ||
	fail "bench with spaced values"
python3 "$(dirname "$0")/check_json.py" "$TMP/b1" 'jobs.0.job options.rw=read' \
	'jobs.0.job options.bs=8192' 'jobs.0.job options.iodepth=2' ||
	fail "spaced values: $(cat "$TMP/b1")"
"$VBLK" bench --json --rw=write --bs=4KiB --iodepth=3 --runtime=0.2 "$SOCK" >"$TMP/b2" ||
	fail "bench with = values before the socket"
python3 "$(dirname "$0")/check_json.py" "$TMP/b2" 'jobs.0.job options.rw=write' \
	'jobs.0.job options.bs=4096' 'jobs.0.job options.iodepth=3' ||
	fail "= values: $(cat "$TMP/b2")"
expect 2 bench "$SOCK" --bs
expect 2 bench "$SOCK" --iodepth 0
expect 2 bench "$SOCK" --queues 4294967297

exit 0
