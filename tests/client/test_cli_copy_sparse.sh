#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk copy of an all-zero 64 MiB device to a file: the file is sparse (the
# zero chunks are holes: nothing written), byte-identical, and the --json
# summary says so; several requests were in flight on several queues.
VBLK=$1
CHECK=$(dirname "$0")/check_json.py
. "$(dirname "$0")/backend.sh"
command -v python3 >/dev/null || { echo "SKIP: python3 not installed"; exit 77; }
start_backend 64M 2

# A destination that exists, larger and full of data: truncated, then holes.
head -c 70000000 /dev/urandom >"$TMP/out" || exit 1
"$VBLK" copy "vhost-user:$SOCK" "$TMP/out" --json >"$TMP/json" 2>"$TMP/err" ||
	fail "copy: $(cat "$TMP/err")"
[ -s "$TMP/err" ] && fail "stderr is no terminal, yet: $(cat "$TMP/err")"
cmp "$TMP/out" "$IMG" || fail "copy differs from the image"
[ "$(stat -c %s "$TMP/out")" -eq 67108864 ] || fail "size $(stat -c %s "$TMP/out")"
# 64 MiB fully allocated would be 131072 blocks of 512 bytes; a few metadata blocks at most.
blocks=$(stat -c %b "$TMP/out")
[ "$blocks" -lt 2048 ] || fail "destination not sparse: $blocks blocks allocated"
python3 "$CHECK" "$TMP/json" schema_version=1 bytes_copied=67108864 zero_bytes=67108864 \
	data_bytes=0 zero_method=skip write_zeroes_requests=0 queues=2 requests_per_queue=16 \
	'max_in_flight>16' 'seconds>0' 'bytes_per_second>0' || fail "summary: $(cat "$TMP/json")"

# Explicit --queues and --requests: 1 queue, 4 requests in flight.
rm -f "$TMP/out"
"$VBLK" copy --queues 1 --requests=4 --request-size 64K "vhost-user:$SOCK" "$TMP/out" --json \
	>"$TMP/json" 2>"$TMP/err" || fail "copy --queues 1: $(cat "$TMP/err")"
cmp "$TMP/out" "$IMG" || fail "copy differs from the image"
python3 "$CHECK" "$TMP/json" queues=1 requests_per_queue=4 request_size=65536 max_in_flight=4 \
	zero_bytes=67108864 || fail "summary: $(cat "$TMP/json")"
# More queues than the back end offers, asked for explicitly: one line, no copy.
"$VBLK" copy --queues 3 "vhost-user:$SOCK" "$TMP/out3" 2>"$TMP/err" && fail "--queues 3 accepted"
[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "not one line: $(cat "$TMP/err")"
exit 0
