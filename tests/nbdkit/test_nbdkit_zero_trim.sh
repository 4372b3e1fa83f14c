#!/bin/sh
# SPDX-License-Identifier: MIT
# NBD write zeroes and trim through the plugin (qemu-io as the NBD client):
# zeroes read back as zeroes, with the virtio-blk unmap flag only when the
# client allows holes, and trim reaches the device (vblkd punches a hole).
NBDKIT_TEST_TOOLS="qemu-io"
. "$(dirname "$0")/lib.sh"
start_backend 8M 1
start_nbdkit
MiB=1048576

io() {
	qemu-io -f raw "$NBD" "$@" >>"$TMP/qemu-io.log" 2>&1 || nbd_fail "qemu-io $*: $(cat "$TMP/qemu-io.log")"
	! grep -q 'Pattern verification failed\|failed' "$TMP/qemu-io.log" ||
		nbd_fail "qemu-io $*: $(cat "$TMP/qemu-io.log")"
}

io -c "write -P 0xab 0 8M" -c "flush"
blocks_full=$(stat -c %b "$IMG")

# Zero without may-trim (NBD_CMD_FLAG_NO_HOLE), then with it.
io -c "write -z 0 1M" -c "read -P 0 0 1M" -c "read -P 0xab 1M 1M"
grep -q "write zeroes 1048576 bytes at 0 unmap=0: 0" "$NBDKIT_LOG" ||
	nbd_fail "zero without may-trim did not reach the device as write zeroes without unmap"
io -c "write -z -u 1M 1M" -c "read -P 0 1M 1M" -c "read -P 0xab 2M 1M"
grep -q "write zeroes 1048576 bytes at 1048576 unmap=1: 0" "$NBDKIT_LOG" ||
	nbd_fail "zero with may-trim did not reach the device as write zeroes with unmap"
cmp -n $((2 * MiB)) "$IMG" /dev/zero || nbd_fail "image not zero where zeroes were written"

# FUA write: durable on return (native on a write-through device).
io -c "write -f -P 0xcd 3M 64k" -c "read -P 0xcd 3M 64k"

# Trim: the request reaches the device; vblkd's file back end deallocates.
io -c "discard 4M 2M"
grep -q "discard 2097152 bytes at 4194304: 0" "$NBDKIT_LOG" || nbd_fail "trim did not reach the device"
if [ "${VBLK_BACKEND:-qsd}" = vblkd ]; then
	blocks_after=$(stat -c %b "$IMG")
	# 2 MiB discarded (and 1 MiB unmapped), in 512-byte stat blocks.
	[ "$blocks_after" -le $((blocks_full - 4096)) ] ||
		nbd_fail "trim freed nothing: $blocks_full -> $blocks_after blocks"
fi
# Data outside the zeroed and trimmed ranges is untouched.
io -c "read -P 0xab 2M 1M" -c "read -P 0xab 6M 2M"
exit 0
