#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk write / read / flush against a back end: unaligned offsets and a
# partial last sector (read-modify-write), read back through vblk and
# straight from the image file; bytes around the write are untouched.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 16M 1

head -c 4096 /dev/urandom | tr '\000' '\001' >"$TMP/bg" || exit 1
# Background pattern over the first 1 MiB, written with aligned offsets.
for i in $(seq 0 255); do cat "$TMP/bg"; done >"$TMP/bg1m"
"$VBLK" write "$SOCK" 0 <"$TMP/bg1m" || fail "aligned write"
cmp -n 1048576 "$TMP/bg1m" "$IMG" || fail "image differs after aligned write"

# 300001 bytes at offset 1000: unaligned start and end, several chunks of RMW.
head -c 300001 /dev/urandom >"$TMP/pat" || exit 1
"$VBLK" write "$SOCK" 1000 <"$TMP/pat" || fail "unaligned write"
"$VBLK" flush "$SOCK" || fail "flush"
"$VBLK" read "$SOCK" 1000 300001 >"$TMP/back" || fail "read"
cmp "$TMP/pat" "$TMP/back" || fail "vblk read differs from what was written"
dd if="$IMG" bs=1000 skip=1 count=301 status=none | head -c 300001 | cmp - "$TMP/pat" ||
	fail "image differs from what was written"
# Neighbours kept (the read-modify-write did not clobber them).
cmp -n 1000 "$IMG" "$TMP/bg1m" || fail "bytes before the write changed"
dd if="$IMG" bs=1 skip=301001 count=2000 status=none >"$TMP/after"
dd if="$TMP/bg1m" bs=1 skip=301001 count=2000 status=none | cmp - "$TMP/after" ||
	fail "bytes after the write changed"

# Suffixes, and a tiny write inside one sector.
printf 'hello' | "$VBLK" write "$SOCK" 1M || fail "write at 1M"
[ "$("$VBLK" read "$SOCK" 1M 5)" = hello ] || fail "read at 1M"
[ "$(dd if="$IMG" bs=1 skip=1048576 count=5 status=none)" = hello ] || fail "image at 1M"

# Read the very end of the device.
"$VBLK" read "$SOCK" 16M-1 1 >/dev/null 2>&1 && fail "bad size accepted"
"$VBLK" read "$SOCK" 16777215 1 >/dev/null || fail "read of the last byte"
exit 0
