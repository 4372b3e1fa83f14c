#!/bin/sh
# SPDX-License-Identifier: MIT
# packed=1: packed virtqueues where the back end offers them (vblkd: data
# round-trip through qemu-img, the back end reports packed rings), and a
# clear failure where it does not (qemu-storage-daemon 7.2): nbdkit exits
# at once with an error instead of serving.
NBDKIT_TEST_TOOLS="qemu-img timeout"
. "$(dirname "$0")/lib.sh"
start_backend 8M 2

if [ "${VBLK_BACKEND:-qsd}" = qsd ]; then
	# A back end without VIRTIO_F_RING_PACKED: nbdkit must give up by
	# itself (well within the bound) with a sentence naming the problem.
	timeout 60 nbdkit -f -U "$TMP/nbd.sock" "$PLUGIN" socket="$SOCK" packed=1 >"$TMP/err" 2>&1
	rc=$?
	[ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] || nbd_fail "nbdkit packed=1 on qsd: exit $rc: $(cat "$TMP/err")"
	grep -qi "packed" "$TMP/err" || nbd_fail "error does not mention packed rings: $(cat "$TMP/err")"
	exit 0
fi

start_nbdkit --threads=2 -- queues=2 packed=1
grep -q "packed ring" "$TMP/backend.log" || nbd_fail "back end did not start packed rings"
qemu_img_roundtrip 8388608
exit 0
