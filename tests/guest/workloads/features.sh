#!/bin/sh
# workloads/features.sh - device features as a Linux guest sees them
# (runs inside the VM, busybox sh; the host half is test_guest_features.sh).
#
# Expects 2 vCPUs and 2 queues. Disk layout (256 MiB):
#   [0, 64M)     ext4: write 40 MiB, delete, fstrim  -> holes in the image
#   [64M, 96M)   raw: 32 MiB written, then blkdiscard -> holes in the image
#   [96M, 104M)  raw: 8 MiB written, then BLKZEROOUT (write zeroes, no unmap) -> zeroes
#   [104M, 112M) raw: 8 MiB written, then fallocate punch (write zeroes + unmap) -> holes
# Checks: block sizes, 2 blk-mq hardware queues both dispatching I/O,
# cache_type write through -> write back -> write through (virtio_blk writes
# the `writeback` config byte, VIRTIO_BLK_F_CONFIG_WCE).
# Prints VBLK_FEAT lines the host checks (expected sizes, switches).
set -eu
DEV=/dev/vda
M=1048576
step() { echo "== features: $*"; }
fail() { echo "== features: FAILED: $*"; exit 1; }
Q=/sys/block/vda/queue

step "logical=$(cat $Q/logical_block_size) physical=$(cat $Q/physical_block_size) discard_max=$(cat $Q/discard_max_bytes) write_zeroes_max=$(cat $Q/write_zeroes_max_bytes)"
echo "VBLK_FEAT lbs=$(cat $Q/logical_block_size) pbs=$(cat $Q/physical_block_size)"
[ "$(cat $Q/discard_max_bytes)" -gt 0 ] || fail "no discard support visible"
[ "$(cat $Q/write_zeroes_max_bytes)" -gt 0 ] || fail "no write-zeroes support visible"

# --- multi-queue: one hardware queue per vCPU, and I/O from each CPU.
nq=$(ls -d /sys/block/vda/mq/* | wc -l)
[ "$nq" = 2 ] || fail "expected 2 blk-mq hardware queues, found $nq"
for cpu in 0 1; do
    taskset $((1 << cpu)) dd if=$DEV of=/dev/null bs=4096 count=64 skip=$((4096 + cpu * 4096)) \
        iflag=direct 2>/dev/null || fail "direct read on cpu $cpu"
done
# Each virtqueue has its own MSI-X vector (virtioN-req.Q): a completion on
# queue Q raises that vector, so a count > 0 on both proves both queues were used.
for h in 0 1; do
    n=$(grep "req\.$h\$" /proc/interrupts | awk '{s = 0; for (i = 2; i <= 3; i++) s += $i; print s}')
    step "virtqueue $h interrupts: ${n:-none}"
    [ -n "$n" ] && [ "$n" -gt 0 ] || { grep virtio /proc/interrupts; fail "virtqueue $h completed nothing (/proc/interrupts)"; }
done

# --- write cache switch through the config byte.
ct=/sys/block/vda/cache_type
[ -w $ct ] || fail "cache_type not writable: CONFIG_WCE not negotiated"
[ "$(cat $ct)" = "write through" ] || fail "initial cache_type is '$(cat $ct)', want write through"
echo "write back" > $ct
[ "$(cat $ct)" = "write back" ] || fail "cache_type did not switch to write back"
[ "$(cat $Q/write_cache)" = "write back" ] || fail "queue/write_cache not write back"
echo "VBLK_FEAT wce=writeback"
dd if=/dev/urandom of=$DEV bs=$M count=1 seek=120 conv=fsync 2>/dev/null || fail "write in writeback mode"
echo "write through" > $ct
[ "$(cat $ct)" = "write through" ] || fail "cache_type did not switch back"
echo "VBLK_FEAT wce=writethrough"

# --- discard of a raw range.
step "32 MiB raw write then blkdiscard"
dd if=/dev/urandom of=$DEV bs=$M count=32 seek=64 conv=fsync 2>/dev/null || fail "raw write"
blkdiscard -o $((64 * M)) -l $((32 * M)) $DEV || fail "blkdiscard"

# --- write zeroes.
step "16 MiB raw write then write zeroes without and with unmap"
dd if=/dev/urandom of=$DEV bs=$M count=16 seek=96 conv=fsync 2>/dev/null || fail "raw write 2"
guest_io zeroout $DEV $((96 * M)) $((8 * M)) || fail "BLKZEROOUT (blkdiscard -z)"
guest_io punch $DEV $((104 * M)) $((8 * M)) || fail "fallocate punch (write zeroes + unmap)"
echo 3 > /proc/sys/vm/drop_caches
nz=$(dd if=$DEV bs=$M count=16 skip=96 iflag=direct 2>/dev/null | tr -d '\000' | wc -c)
[ "$nz" = 0 ] || fail "write-zeroes range has $nz non-zero bytes"

# --- fstrim on ext4.
step "ext4 on [0, 64M): write 40 MiB, rm, fstrim"
/sbin/mke2fs -t ext4 -F -q -b 4096 -E nodiscard,lazy_itable_init=0,lazy_journal_init=0 $DEV 16384 || fail mke2fs
mount -t ext4 $DEV /mnt || fail mount
dd if=/dev/urandom of=/mnt/big bs=$M count=40 conv=fsync 2>/dev/null || fail "file write"
sync
rm /mnt/big
sync
fstrim -v /mnt || fail fstrim
umount /mnt
echo "VBLK_FEAT done"
