#!/bin/sh
# workloads/ro.sh - a read-only disk (vblkd `ro`, VIRTIO_BLK_F_RO) as the
# guest sees it: the block device is read-only and a write does not reach the
# image (the host checks the image is unchanged).
set -eu
DEV=/dev/vda
fail() { echo "== ro: FAILED: $*"; exit 1; }
[ "$(cat /sys/block/vda/ro)" = 1 ] || fail "/sys/block/vda/ro is not 1"
[ "$(blockdev --getro $DEV)" = 1 ] || fail "blockdev --getro is not 1"
dd if=$DEV of=/dev/null bs=4096 count=16 iflag=direct 2>/dev/null || fail "read failed"
if dd if=/dev/urandom of=$DEV bs=4096 count=1 oflag=direct conv=fsync 2>/dev/null; then
    fail "a write to the read-only disk succeeded"
fi
echo "== ro: write refused as expected"
