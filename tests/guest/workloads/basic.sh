#!/bin/sh
# workloads/basic.sh - default guest workload (runs inside the VM, busybox sh).
#
# Disk layout (any size >= 128 MiB; the test uses 256 MiB):
#   [0, R)      ext4 filesystem, R = (size/2) rounded down to 1 MiB
#   [R, size)   raw I/O region of guest_io plan "basic"
# The two never overlap, so after the VM exits the host can check both:
# the raw region byte-for-byte (guest_io plan-verify) and the fs (e2fsck).
#
# Steps:
#  1. raw I/O: guest_io plan-run - O_DIRECT writes (512 B, 3584 B, 4 KiB,
#     64 KiB, 1 MiB, 4 MiB, ...), buffered+fsync writes (incl. unaligned byte
#     ranges -> read-modify-write), O_DSYNC writes, overwrites, concurrent
#     writers, writes at the very end of the disk; each read back via O_DIRECT.
#  2. mke2fs -t ext4 on [0, R) only; mount; write files (guest_io patterns
#     with buffered and O_DIRECT I/O, sparse, appended, copied, renamed,
#     deleted, plus /dev/urandom content); sha256sum them; sync; umount;
#     drop caches; mount again; verify sums and patterns; umount; e2fsck -fn.
#  3. re-verify the whole raw region (O_DIRECT and buffered after dropping
#     caches); bytes not written by the plan must still be zero.
# Prints "VBLK_SUM <sha256> </path>" for every file so the host can compare
# them with what it reads from the image with debugfs.
set -eu

DEV=/dev/vda
MNT=/mnt
SEED=${vblk_seed:-1}

step() { echo "== basic: $*"; }
fail() { echo "== basic: FAILED: $*"; exit 1; }
drop_caches() { sync; echo 3 > /proc/sys/vm/drop_caches; }

SIZE=$(blockdev --getsize64 $DEV)
LBS=$(blockdev --getss $DEV)
step "device $DEV size=$SIZE logical-block-size=$LBS seed=$SEED"
if [ -n "${vblk_size:-}" ] && [ "$SIZE" != "$vblk_size" ]; then
    fail "device size $SIZE != expected $vblk_size"
fi
[ "$SIZE" -ge $((128 * 1024 * 1024)) ] || fail "device too small"
R=$(( SIZE / 2 / 1048576 * 1048576 ))

# ------------------------------------------------------------------ raw I/O
step "raw I/O plan on [$R, $SIZE)"
guest_io plan-run -s "$SEED" -j 4 basic $DEV || fail "raw I/O plan"
drop_caches
guest_io plan-verify -s "$SEED" -z -r direct basic $DEV || fail "raw region verify (direct)"

# ------------------------------------------------------------------ ext4
FS_BLOCKS=$(( R / 4096 ))
step "mke2fs -t ext4 on the first $FS_BLOCKS 4 KiB blocks"
/sbin/mke2fs -t ext4 -F -q -b 4096 -E lazy_itable_init=0,lazy_journal_init=0 -L vblktest \
    $DEV $FS_BLOCKS || fail "mke2fs"
mount -t ext4 $DEV $MNT || fail "mount"

GEN=/tmp/genlist       # path off len seed [flags]
: > $GEN
n=0
gen() {   # gen FLAGS PATH OFF LEN : write a guest_io pattern into a file
    n=$((n + 1))
    s=$((SEED * 1000 + n))
    guest_io write $1 "$2" "$3" "$4" "$s" > /dev/null || fail "write $2"
    echo "$2 $3 $4 $s" >> $GEN
}

step "writing files"
mkdir -p $MNT/big $MNT/small $MNT/dir/a/b/c
gen -c $MNT/big/buffered-8M 0 8M
gen "-c -d" $MNT/big/direct-4M 0 4M
gen -c $MNT/big/sparse 10M 64K           # 10 MiB hole, then data
gen -c $MNT/big/append 0 100K
gen "" $MNT/big/append 100K 51203        # appended, odd length
gen -c $MNT/big/dsync-1M 0 0             # create empty, then O_DSYNC
gen -y $MNT/big/dsync-1M 0 1M
i=1
while [ $i -le 40 ]; do
    gen -c $MNT/small/f$i 0 $((i * 997))
    i=$((i + 1))
done
dd if=/dev/urandom of=$MNT/big/urandom-2M bs=64k count=32 2>/dev/null || fail "dd urandom"
cp $MNT/big/buffered-8M $MNT/dir/a/b/c/copy-8M || fail "cp"
mv $MNT/small/f40 $MNT/dir/a/f40-renamed
sed -i "s#^$MNT/small/f40 #$MNT/dir/a/f40-renamed #" $GEN
ln $MNT/small/f39 $MNT/dir/a/b/f39-hardlink
ln -s ../small/f38 $MNT/dir/f38-symlink
i=1
while [ $i -le 10 ]; do                  # free some blocks again
    rm $MNT/small/f$i
    sed -i "\#^$MNT/small/f$i #d" $GEN
    i=$((i + 1))
done

(cd $MNT && find . -type f | sort | xargs sha256sum) > /tmp/sums || fail "sha256sum"
nfiles=$(wc -l < /tmp/sums)
step "$nfiles files written; sync, umount, drop caches, remount"
sync
umount $MNT || fail "umount"
drop_caches
mount -t ext4 $DEV $MNT || fail "remount"

step "verifying checksums and patterns after remount"
(cd $MNT && sha256sum -c -s /tmp/sums) || { (cd $MNT && sha256sum -c /tmp/sums); fail "checksum mismatch after remount"; }
while read -r p off len s; do
    [ "$len" = 0 ] && continue
    guest_io verify "$p" "$off" "$len" "$s" > /dev/null || fail "pattern mismatch in $p"
done < $GEN
[ "$(cat $MNT/dir/f38-symlink | sha256sum)" = "$(cat $MNT/small/f38 | sha256sum)" ] || fail "symlink"
[ "$(stat -c %h $MNT/small/f39)" = 2 ] || fail "hardlink count"
[ "$(stat -c %s $MNT/big/sparse)" = $((10 * 1048576 + 65536)) ] || fail "sparse size"
umount $MNT || fail "final umount"

step "e2fsck -fn (e2fsprogs, not busybox)"
/sbin/e2fsck -fn $DEV || fail "e2fsck reported problems"

sed 's#  \./# /#' /tmp/sums | while read -r sum p; do echo "VBLK_SUM $sum $p"; done

# ------------------------------------------------------------------ raw region again
step "re-verifying raw region after the filesystem work"
drop_caches
guest_io plan-verify -s "$SEED" -z -r direct basic $DEV || fail "raw region verify (direct, final)"
drop_caches
guest_io plan-verify -s "$SEED" -z -r buffered basic $DEV || fail "raw region verify (buffered, final)"

step "all checks passed"
exit 0
