#!/bin/sh
# SPDX-License-Identifier: MIT
# FUA writes. Write-through device (qemu-storage-daemon's default export):
# a completed write is durable, FUA is native and sends no flush. Write-back
# device (vblkd ...,writeback): virtio-blk has no FUA, so each FUA write is
# followed by a device flush. qemu-io flushes once more when it closes.
NBDKIT_TEST_TOOLS="qemu-io"
. "$(dirname "$0")/lib.sh"
if [ "${VBLK_BACKEND:-qsd}" = vblkd ]; then
	# backend.sh has no cache option: vblkd started here, stopped by its cleanup.
	[ -x "${VBLKD:-}" ] || { echo "SKIP: VBLKD not set"; exit 77; }
	IMG=$TMP/disk.img
	SOCK=$TMP/vhost.sock
	"$VBLKD" --socket "$SOCK" --disk "$IMG,size=8M,queues=1,writeback" >"$TMP/backend.log" 2>&1 &
	BACKEND_PID=$!
	for _ in $(seq 100); do [ -S "$SOCK" ] && break; sleep 0.05; done
	cache=write-back
	want_min=4
else
	start_backend 8M 1
	cache=write-through
	want_min=0
fi
start_nbdkit
grep -q "$cache" "$NBDKIT_LOG" || nbd_fail "plugin did not see a $cache device"
qemu-io -f raw "$NBD" -c "write -f -P 0x11 0 64k" -c "write -f -P 0x22 64k 64k" \
	-c "write -f -P 0x33 128k 64k" -c "read -P 0x22 64k 64k" >"$TMP/qemu-io.log" 2>&1 ||
	nbd_fail "qemu-io: $(cat "$TMP/qemu-io.log")"
[ "$(grep -c 'fua=1' "$NBDKIT_LOG")" -eq 3 ] || nbd_fail "expected 3 FUA writes"
flushes=$(grep -c 'vblk: device flush: 0' "$NBDKIT_LOG")
if [ "$want_min" -gt 0 ]; then
	[ "$flushes" -ge "$want_min" ] || nbd_fail "$flushes device flushes for 3 FUA writes and a close"
else
	[ "$flushes" -le 1 ] || nbd_fail "$flushes device flushes: FUA should be native"
fi
exit 0
