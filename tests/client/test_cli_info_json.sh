#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk info --json (docs/json.md), parsed by python3's json module: schema
# version, features offered and negotiated as masks with matching names,
# offered vs negotiated queues, and the serial as valid UTF-8. On vblkd
# (qemu-storage-daemon 7.2 has no serial option) a non-ASCII serial
# round-trips and invalid UTF-8 bytes come out as \xNN.
VBLK=$1
CHECK=$(dirname "$0")/check_info_json.py
. "$(dirname "$0")/backend.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
start_backend 32M 2
hex() { printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }

info_json() { # OUT SOCKET ARGS...
	out=$1
	shift
	"$VBLK" info "$@" --json >"$out" 2>"$TMP/err" || fail "info $* --json: $(cat "$TMP/err")"
}
info_json "$TMP/j1" "$SOCK"
python3 "$CHECK" "$TMP/j1" 33554432 2 1 "$(hex "$SERIAL")" || fail "default queues"
info_json "$TMP/j2" "$SOCK" --queues 2
python3 "$CHECK" "$TMP/j2" 33554432 2 2 "$(hex "$SERIAL")" || fail "--queues 2"
# The text form says the same.
"$VBLK" info "$SOCK" --queues 2 | grep -q "^queues: *2 offered, 2 negotiated$" ||
	fail "text queues: $("$VBLK" info "$SOCK" --queues 2)"

[ "${VBLK_BACKEND:-qsd}" = vblkd ] || exit 0
# Serials set on vblkd's command line (bytes as given, at most 20).
n=0
for serial in "disqué" "$(printf 'ab\377\300\200z')" "$(printf 'x\355\240\200\364\220\200\200')" \
	"$(printf '"\\\001/é\342\202')"; do
	n=$((n + 1))
	sock=$TMP/s$n.sock
	"$VBLKD" --socket "$sock" --disk "memory:1M,queues=1,serial=$serial" >"$TMP/s$n.log" 2>&1 &
	track $!
	for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
	info_json "$TMP/s$n.json" "$sock"
	python3 "$CHECK" "$TMP/s$n.json" 1048576 1 1 "$(hex "$serial")" || fail "serial $n"
done
python3 -c '
import json, sys
assert json.load(open(sys.argv[1], encoding="utf-8"))["serial"] == "disqu\u00e9"
assert json.load(open(sys.argv[2], encoding="utf-8"))["serial"] == "ab\\xff\\xc0\\x80z"
' "$TMP/s1.json" "$TMP/s2.json" || fail "serials: $(cat "$TMP/s1.json" "$TMP/s2.json")"
exit 0
