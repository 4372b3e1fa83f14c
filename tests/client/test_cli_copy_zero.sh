#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk copy file -> device with zero runs (a hole and written zeroes): the
# zero chunks go out as WRITE_ZEROES with unmap (the image gets holes where
# it had data), the rest as writes, with several requests in flight; the
# device then holds the file's bytes. With --destination-is-zero zero
# chunks are skipped. Then device -> file and device -> device.
VBLK=$1
CHECK=$(dirname "$0")/check_json.py
. "$(dirname "$0")/backend.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
BACKEND_UNMAP=1
# The image starts full of data, so zeroes must really be written.
head -c 67108864 /dev/urandom >"$TMP/disk.img" || exit 1
start_backend 64M 2

# 8M data | 24M hole | 8M of written zeroes | 4M data | 1234 more bytes of data
{
	head -c 8388608 /dev/urandom
	head -c 25165824 /dev/zero
} >"$TMP/src" || exit 1
# The 24M in the middle become a hole; the 8M after it are zeroes on disk.
fallocate -p -o 8388608 -l 25165824 "$TMP/src" 2>/dev/null || truncate -s 8M "$TMP/src"
truncate -s 32M "$TMP/src"
{
	head -c 8388608 /dev/zero
	head -c 4195538 /dev/urandom
} >>"$TMP/src" || exit 1
size=$(stat -c %s "$TMP/src")
[ "$size" -eq 46138578 ] || fail "test file is $size bytes"
before=$(stat -c %b "$IMG")

"$VBLK" copy "$TMP/src" "vhost-user:$SOCK" --requests 8 --json >"$TMP/json" 2>"$TMP/err" ||
	fail "copy: $(cat "$TMP/err")"
cmp -n "$size" "$TMP/src" "$IMG" || fail "device differs from the source"
python3 "$CHECK" "$TMP/json" bytes_copied="$size" zero_bytes=33554432 \
	data_bytes=$((size - 33554432)) zero_method=write-zeroes 'write_zeroes_requests>127' \
	queues=2 requests_per_queue=8 'max_in_flight>8' || fail "summary: $(cat "$TMP/json")"
# WRITE_ZEROES with unmap deallocated the image's 32 MiB of zeroes (give or take a chunk).
after=$(stat -c %b "$IMG")
[ $((before - after)) -gt 60000 ] || fail "image blocks $before -> $after: zeroes not unmapped"

# The device now reads as zeroes in 8M..40M: with --destination-is-zero those are skipped.
"$VBLK" copy "$TMP/src" "vhost-user:$SOCK" --destination-is-zero --json >"$TMP/json" \
	2>"$TMP/err" || fail "copy --destination-is-zero: $(cat "$TMP/err")"
cmp -n "$size" "$TMP/src" "$IMG" || fail "device differs from the source"
python3 "$CHECK" "$TMP/json" zero_bytes=33554432 zero_method=skip write_zeroes_requests=0 ||
	fail "summary: $(cat "$TMP/json")"

# Device -> file back.
"$VBLK" copy "vhost-user:$SOCK" "$TMP/back" || fail "copy back"
cmp -n "$size" "$TMP/back" "$TMP/src" || fail "round trip differs"

# Device -> device (a second back end: vblkd, on an image full of data): both sides async.
[ -n "${VBLKD:-}" ] || exit 0
head -c 67108864 /dev/urandom >"$TMP/img2" || exit 1
"$VBLKD" --socket "$TMP/s2.sock" --disk "$TMP/img2,queues=3" >"$TMP/s2.log" 2>&1 &
track $!
for _ in $(seq 100); do [ -S "$TMP/s2.sock" ] && break; sleep 0.05; done
"$VBLK" copy "vhost-user:$SOCK" "vhost-user:$TMP/s2.sock" --json >"$TMP/json" 2>"$TMP/err" ||
	fail "device to device: $(cat "$TMP/err")"
cmp "$IMG" "$TMP/img2" || fail "device to device: images differ"
python3 "$CHECK" "$TMP/json" bytes_copied=67108864 zero_method=write-zeroes queues=2 \
	'zero_bytes>33554431' 'max_in_flight>16' || fail "summary: $(cat "$TMP/json")"
exit 0
