#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk copy: file -> device (with an unaligned tail), device -> file.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 8M 1
head -c 3000123 /dev/urandom >"$TMP/src" || exit 1
"$VBLK" copy "$TMP/src" "vhost-user:$SOCK" 2>"$TMP/err" || fail "copy to device: $(cat "$TMP/err")"
[ -s "$TMP/err" ] && fail "progress printed while stderr is not a terminal"
cmp -n 3000123 "$TMP/src" "$IMG" || fail "image differs"
"$VBLK" copy "vhost-user:$SOCK" "$TMP/dst" || fail "copy from device"
[ "$(stat -c %s "$TMP/dst")" -eq 8388608 ] || fail "copy size"
cmp "$TMP/dst" "$IMG" || fail "copied file differs"
head -c 9000000 /dev/zero >"$TMP/big"
"$VBLK" copy "$TMP/big" "vhost-user:$SOCK" 2>/dev/null && fail "oversized copy accepted"
exit 0
