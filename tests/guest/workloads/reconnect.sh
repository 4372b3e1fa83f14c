#!/bin/sh
# workloads/reconnect.sh - write-and-verify while the host kills the back end.
#
# Runs guest_io stress on the whole of /dev/vda for vblk_secs seconds
# (kernel command line, default 30): 8 processes write seeded O_DIRECT data
# at pseudo-random offsets and read every write back at once. Meanwhile
# run-guest.sh --kill-backend SIGKILLs the vhost-user back end and starts it
# again; QEMU reconnects and the back end resubmits what the dead one had in
# flight (vhost-user.rst "Inflight I/O tracking"). The guest must see no I/O
# error and no wrong data, and at the end every job re-reads all its slots.
# The "VBLK_STRESS job=J iterations=K" lines let the host replay the plan
# and check the image itself (test_guest_reconnect.sh).
set -eu

DEV=/dev/vda
SEED=${vblk_seed:-1}
SECS=30
JOBS=8
for w in $(cat /proc/cmdline); do
    case "$w" in
        vblk_secs=*) SECS=${w#*=} ;;
        vblk_jobs=*) JOBS=${w#*=} ;;
    esac
done

echo "== reconnect: $JOBS jobs for $SECS s on $DEV, seed $SEED"
echo "VBLK_STRESS_BEGIN"
rc=0
guest_io stress -s "$SEED" -j "$JOBS" -t "$SECS" $DEV || rc=$?
echo "VBLK_STRESS_END rc=$rc"
dmesg | grep -i -E 'I/O error|blk_update_request|virtio_blk' | tail -20 || true
if dmesg | grep -q -i 'I/O error'; then
    echo "== reconnect: the kernel logged I/O errors"
    exit 1
fi
exit "$rc"
