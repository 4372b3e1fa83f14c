#!/bin/sh
# workloads/resize.sh - online resize (virtio 1.3 §5.2.4 capacity, config
# change notification): the host grows the disk while the guest runs.
#
# The guest keeps writing and verifying O_DIRECT data in the first 8 MiB,
# prints VBLK_RESIZE_READY, and waits (at most 120 s) for /sys/block/vda/size
# to change without a reboot: run-guest.sh --resize-to grows the image and
# tells the back end (vblkd: SIGHUP). The new size must be vblk_new_size
# (kernel command line, bytes); the new space [old end, new end) is then
# written and read back, the host re-checks it in the image, and a write past
# the new end must still fail.
set -eu
DEV=/dev/vda
SEED=${vblk_seed:-1}
NEW=
for w in $(cat /proc/cmdline); do
    case "$w" in
        vblk_new_size=*) NEW=${w#*=} ;;
    esac
done
fail() { echo "== resize: FAILED: $*"; touch /tmp/stop; exit 1; }
[ -n "$NEW" ] || fail "no vblk_new_size on the kernel command line"

old=$(cat /sys/block/vda/size)
rm -f /tmp/stop /tmp/bgfail
(
    i=0
    while [ ! -f /tmp/stop ]; do
        off=$(( (i % 8) * 1048576 ))
        if ! guest_io write -d $DEV $off 1M $((SEED + i)) >/dev/null ||
            ! guest_io verify -d $DEV $off 1M $((SEED + i)) >/dev/null; then
            echo "round $i" > /tmp/bgfail
            break
        fi
        i=$((i + 1))
    done
    echo "== resize: $i background write+verify rounds"
) &
bg=$!
echo "VBLK_RESIZE_READY sectors=$old"
i=0
while [ "$(cat /sys/block/vda/size)" = "$old" ]; do
    i=$((i + 1))
    [ $i -le 1200 ] || fail "/sys/block/vda/size stayed $old for 120 s"
    sleep 0.1
done
new=$(cat /sys/block/vda/size)
echo "VBLK_RESIZE_SEEN old=$old new=$new after $((i / 10)) s"
touch /tmp/stop
wait $bg
[ ! -f /tmp/bgfail ] || fail "I/O during the resize failed ($(cat /tmp/bgfail))"
[ "$new" = $((NEW / 512)) ] || fail "the disk has $new sectors, want $((NEW / 512))"
[ "$(blockdev --getsize64 $DEV)" = "$NEW" ] || fail "blockdev --getsize64 says $(blockdev --getsize64 $DEV)"

off=$((old * 512))
len=$((NEW - off))
dseed=$((SEED + 7777))
guest_io write -d $DEV $off $len $dseed || fail "writing the new space"
echo 3 > /proc/sys/vm/drop_caches
guest_io verify -d $DEV $off $len $dseed || fail "reading the new space back"
if dd if=/dev/zero of=$DEV bs=4096 count=1 seek=$((NEW / 4096)) oflag=direct 2>/dev/null; then
    fail "a write past the new end succeeded"
fi
dmesg | grep -i -E 'capacity change|new size' | tail -3 || true
echo "VBLK_RESIZE_DATA off=$off len=$len seed=$dseed"
