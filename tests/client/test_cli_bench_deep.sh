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
	python3 "$(dirname "$0")/check_json.py" "$TMP/out" "jobs.0.job options.iodepth=$depth" \
		'jobs.0.read.total_ios>0' 'jobs.0.write.total_ios>0' ||
		fail "iodepth $depth: $(cat "$TMP/out")"
	echo "iodepth $depth: $(tr -d '\n' <"$TMP/out" | head -c 600)"
done
exit 0
