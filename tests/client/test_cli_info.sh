#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk info (text and --json, serial via GET_ID) and the one-line errors.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 32M 2

out=$("$VBLK" info "$SOCK") || fail "info"
echo "$out" | grep -q "^capacity: *33554432 bytes" || fail "capacity: $out"
echo "$out" | grep -q "VIRTIO_F_VERSION_1" || fail "features: $out"
echo "$out" | grep -q "^queues: *2" || fail "queues: $out"
if [ -n "${VBLK_TEST_PACKED:-}" ]; then
	echo "$out" | grep -q "^ring: *packed" || fail "ring: $out"
	echo "$out" | grep -q "VIRTIO_F_RING_PACKED" || fail "packed not negotiated: $out"
else
	echo "$out" | grep -q "^ring: *split" || fail "ring: $out"
fi
[ -z "$SERIAL" ] || echo "$out" | grep -q "^serial: *$SERIAL\$" || fail "serial: $out"
json=$("$VBLK" info "$SOCK" --json) || fail "info --json"
if command -v python3 >/dev/null; then
	echo "$json" | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["capacity"] == 33554432, d
assert d["logical_block_size"] >= 512, d
assert "VIRTIO_F_VERSION_1" in d["features"]["negotiated"]["names"], d
' || fail "json: $json"
fi

# Errors: one line on stderr, non-zero exit.
err=$("$VBLK" info "$TMP/nonexistent" 2>&1) && fail "missing socket accepted"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "more than one line: $err"
err=$("$VBLK" read "$SOCK" 32M 512 2>&1) && fail "out of range read accepted"
echo "$err" | grep -q "out of range" || fail "range error: $err"
[ "$(echo "$err" | wc -l)" -eq 1 ] || fail "more than one line: $err"
printf 'x' | "$VBLK" write "$SOCK" 40M 2>/dev/null && fail "out of range write accepted"
"$VBLK" read "$SOCK" 1Q 1 2>/dev/null && fail "bad suffix accepted"
"$VBLK" bench "$SOCK" --rw=read --bs=4k --iodepth=1 --queues=3 --runtime=1 2>"$TMP/err" &&
	fail "3 queues accepted from a 2-queue back end"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "more than one line: $(cat "$TMP/err")"
"$VBLK" --help | grep -q "vblk bench SOCKET" || fail "--help"
"$VBLK" discard "$SOCK" 0 1M || fail "discard"
"$VBLK" flush "$SOCK" || fail "flush"
exit 0
