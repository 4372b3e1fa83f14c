#!/bin/sh
# workloads/range.sh - vblkd `range=64M/128M,sectorsize=4096`: the guest sees
# a 128 MiB disk with 4096-byte logical blocks, fills all of it (last block
# included), and tries to write past its end; the host then checks that only
# bytes [64M, 192M) of the image changed.
set -eu
DEV=/dev/vda
M=1048576
fail() { echo "== range: FAILED: $*"; exit 1; }
[ "$(blockdev --getsize64 $DEV)" = $((128 * M)) ] || fail "size $(blockdev --getsize64 $DEV), want 128 MiB"
[ "$(cat /sys/block/vda/queue/logical_block_size)" = 4096 ] || fail "logical block size not 4096"
[ "$(cat /sys/block/vda/queue/physical_block_size)" = 4096 ] || fail "physical block size not 4096"
# 0xA5 everywhere the guest can reach (tr turns zeroes into 0xA5).
dd if=/dev/zero bs=$M count=128 2>/dev/null | tr '\000' '\245' | dd of=$DEV bs=$M oflag=direct 2>/dev/null ||
    fail "filling the disk"
if dd if=/dev/zero of=$DEV bs=4096 count=1 seek=$((128 * 256)) oflag=direct 2>/dev/null; then
    fail "a write past the end of the disk succeeded"
fi
sync
echo 3 > /proc/sys/vm/drop_caches
n=$(dd if=$DEV bs=$M count=128 iflag=direct 2>/dev/null | tr -d '\245' | wc -c)
[ "$n" = 0 ] || fail "$n bytes read back differ"
echo "== range: 128 MiB filled and read back"
