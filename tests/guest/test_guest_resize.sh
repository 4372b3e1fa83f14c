#!/usr/bin/env bash
# test_guest_resize.sh - online resize reaches a running Linux guest
# (meson suite 'guest').
#
# Boots a TCG guest on a fresh 64 MiB image and runs workloads/resize.sh.
# While the guest writes and verifies data, run-guest.sh --resize-to grows
# the image file to 96 MiB (truncate) and sends the back end SIGHUP: vblkd
# learns the new size (blk_dev_resize) and sends
# VHOST_USER_BACKEND_CONFIG_CHANGE_MSG; QEMU re-reads the config space and
# raises a config change interrupt (virtio 1.3 §5.2.4 capacity). Passes when
#   1. the guest saw /sys/block/vda/size become 96 MiB without a reboot,
#      with no I/O error meanwhile, and wrote and read back the new space,
#   2. the back end says it told the front end and QEMU acked it in time
#      (vblkd only: its log lines),
#   3. the host finds the guest's data in the new space of the image.
# VBLK_GUEST_BACKEND=qsd runs the same test against qemu-storage-daemon
# through qsd-as-vblkd.sh, which turns SIGHUP into QMP block_resize. A qsd
# that never tells the front end (QEMU 7.2's vhost-user-blk export has no
# resize callback: block_resize succeeds, the guest never learns) is found
# first in seconds by the conformance case config-change-after-sighup
# ($CONFORMANCE, when set) and reported as a skip, not after a guest boot.
#
# Environment: VBLK_GUEST_BACKEND (vblkd | qsd), VBLKD, VBLK_GUEST_SEED,
# VBLK_GUEST_KEEP=1, and those of run-guest.sh. Exit: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backend=${VBLK_GUEST_BACKEND:-vblkd}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
old_size=$((64 << 20)) new_size=$((96 << 20))
# shellcheck source=guest-lib.sh
. "$here/guest-lib.sh"

guest_prereqs
case "$backend" in
    qsd)   command -v "${QSD:-qemu-storage-daemon}" >/dev/null || skip "qemu-storage-daemon not installed"
           command -v python3 >/dev/null || skip "python3 not installed (qmp.py drives qsd's monitor)"
           vblkd=$here/qsd-as-vblkd.sh
           if [ -n "${CONFORMANCE:-}" ] &&
               ! probe=$("$CONFORMANCE" "$vblkd" backend-channel config-change-after-sighup 2>&1); then
               grep -q 'no message on the back-end channel' <<< "$probe" ||
                   fail "the qsd probe failed: $probe"
               skip "$("${QSD:-qemu-storage-daemon}" --version | head -1) does not send VHOST_USER_BACKEND_CONFIG_CHANGE_MSG after block_resize (its vhost-user-blk export cannot notify a resize): nothing to compare"
           fi ;;
    vblkd) [ -n "${VBLKD:-}" ] && [ -x "${VBLKD}" ] || skip "VBLKD not set or not executable"
           vblkd=$VBLKD ;;
    *)     fail "unknown VBLK_GUEST_BACKEND=$backend" ;;
esac

guest_tmpdir resize
img=$tmp/disk.img
truncate -s "$old_size" "$img"
seed=${VBLK_GUEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "backend=$backend seed=$seed image=$img: $old_size -> $new_size bytes"
t0=$SECONDS
"$here/run-guest.sh" --backend vblkd --vblkd "$vblkd" --image "$img" --script resize \
    --seed "$seed" --log "$tmp/console.log" --backend-log "$tmp/backend.log" --cache "$cache" \
    --resize-to "$new_size" --guest-args "vblk_new_size=$new_size" --timeout 300 ||
    fail "guest run failed (backend $backend, seed $seed)"
echo "guest run: $((SECONDS - t0)) s"

con=$(tr -d '\r' < "$tmp/console.log")
grep -a '^VBLK_RESIZE_SEEN\|capacity change\|new size\|background write' <<< "$con" | sed 's/^/guest: /'
data=$(grep -a '^VBLK_RESIZE_DATA ' <<< "$con" | tail -1)
[ -n "$data" ] || fail "no VBLK_RESIZE_DATA line from the guest"
off=$(sed 's/.*off=\([0-9]*\).*/\1/' <<< "$data")
len=$(sed 's/.*len=\([0-9]*\).*/\1/' <<< "$data")
dseed=$(sed 's/.*seed=\([0-9]*\).*/\1/' <<< "$data")
[ "$off" = "$old_size" ] && [ "$((off + len))" = "$new_size" ] ||
    fail "the guest wrote [$off, +$len), want [$old_size, $new_size)"
[ "$(stat -c %s "$img")" = "$new_size" ] || fail "the image has $(stat -c %s "$img") bytes"
if [ "$backend" = vblkd ]; then
    grep -a 'resize: the disk now has' "$tmp/backend.log" | sed 's/^/host: /'
    grep -q 'told the front end that the config space changed' "$tmp/backend.log" ||
        fail "vblkd did not send CONFIG_CHANGE_MSG"
    # QEMU acks only after our GET_CONFIG reply: an ack wait that blocked
    # the control thread would deadlock with it until the 5 s timeout.
    grep -q 'the front end acknowledged the config change' "$tmp/backend.log" ||
        fail "QEMU did not ack CONFIG_CHANGE_MSG"
    ! grep -aE 'warning: (CONFIG_CHANGE_MSG|back-end request channel)|has no back-end request' \
        "$tmp/backend.log" ||
        fail "the back-end channel did not work cleanly with QEMU"
fi
echo "host: verifying the guest's data in the new space"
"$cache/guest_io.host" verify "$img" "$off" "$len" "$dseed" ||
    fail "the image does not hold what the guest wrote past the old end"
echo "PASS: guest-resize ($backend, seed $seed) in $((SECONDS - t0)) s"
