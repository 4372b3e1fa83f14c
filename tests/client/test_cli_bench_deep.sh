#!/bin/sh
# SPDX-License-Identifier: MIT
# vblk bench with an iodepth far above what one queue holds (ring of 1024,
# 2048 requests in the library): the surplus waits in vblk and the run
# succeeds, reporting the iodepth asked for.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 64M 1
for depth in 4096 2049; do
	"$VBLK" bench "$SOCK" --rw=randrw --bs=4k --iodepth=$depth --runtime=1 --json \
		>"$TMP/out" 2>"$TMP/err" || fail "iodepth $depth: $(cat "$TMP/err")"
	grep -q "\"iodepth\": $depth," "$TMP/out" || fail "iodepth $depth: $(cat "$TMP/out")"
	grep -q '"ios": 0,' "$TMP/out" && fail "iodepth $depth: no I/O done: $(cat "$TMP/out")"
	echo "iodepth $depth: $(cat "$TMP/out")"
done
exit 0
