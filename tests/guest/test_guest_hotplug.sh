#!/usr/bin/env bash
# test_guest_hotplug.sh - memory hotplug under a running guest (meson suite
# 'guest'): vhost-user.rst VHOST_USER_PROTOCOL_F_CONFIGURE_MEM_SLOTS.
#
# Boots a TCG guest with room for DIMMs (run-guest.sh --hotplug) on a fresh
# 128 MiB image and runs workloads/hotplug.sh: two 128 MiB shared memfd
# DIMMs are hot-added over the HMP monitor while the guest writes and
# verifies with O_DIRECT (QEMU sends ADD_MEM_REG for each), the guest does
# O_DIRECT I/O from and into pages that lie in each new DIMM and checks the
# data, six more DIMMs are added (nine memory regions: more than the eight
# SET_MEM_TABLE can carry, so QEMU refuses the last DIMM to a back end
# without CONFIGURE_MEM_SLOTS), then one DIMM is removed under I/O (device_del; REM_MEM_REG) and
# the other is used again. Passes when
#   1. the guest reports PASS: no I/O error, no wrong data, every hotbuf run
#      verified (3 of them) with its pages inside the DIMM's range,
#   2. the DIMM was really removed (VBLK_HOTPLUG_REMOVE=OK), and
#   3. all eight DIMMs were added (QEMU took every device_add), and for
#      vblkd its log shows the eight regions added (nine in its table) and
#      one removed.
#
# Environment: VBLK_GUEST_BACKEND (vblkd | qsd), VBLKD, VBLK_GUEST_SEED,
# VBLK_GUEST_KEEP=1, and those of run-guest.sh. Exit: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backend=${VBLK_GUEST_BACKEND:-vblkd}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
# shellcheck source=guest-common.sh
. "$here/guest-common.sh"
guest_prereqs "$backend" busybox cpio gcc mke2fs e2fsck python3
guest_tmpdir vblk-guest-hp

img=$tmp/disk.img
truncate -s 128M "$img"
seed=${VBLK_GUEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "backend=$backend seed=$seed image=$img"
args=(--backend "$backend" --image "$img" --script hotplug --seed "$seed" --hotplug
      --log "$tmp/console.log" --backend-log "$tmp/backend.log" --cache "$cache" --timeout 420)
[ "$backend" = vblkd ] && args+=(--vblkd "$VBLKD")

t0=$SECONDS
"$here/run-guest.sh" "${args[@]}" || fail "guest run failed (backend $backend, seed $seed)"
con=$(tr -d '\r' < "$tmp/console.log")
grep -a '^== hotplug: DIMM\|VBLK_HOTBUF\|hotbuf: [0-9]' <<< "$con" | sed 's/^/guest: /'
n=$(grep -ac 'VBLK_HOTBUF pages=[0-9]* verified' <<< "$con" || true)
[ "$n" -eq 3 ] || fail "expected 3 verified hotbuf runs, got $n"
grep -aq '^VBLK_HOTPLUG_REMOVE=OK' <<< "$con" ||
    fail "DIMM 2 was not removed: $(grep -a 'VBLK_HOTPLUG_REMOVE' <<< "$con" || echo 'no result line')"
grep -aq '^== hotplug: DIMMs 3-8: 6 more blocks' <<< "$con" || fail "DIMMs 3-8 did not all arrive"
if [ "$backend" = vblkd ]; then
    added=$(grep -ac 'memory region added: guest 0x1[0-9a-f]\{8\}+' "$tmp/backend.log" || true)
    removed=$(grep -ac 'memory region removed: guest 0x1[0-9a-f]\{8\}+' "$tmp/backend.log" || true)
    grep -a 'memory region' "$tmp/backend.log" | sed 's/^/host: /'
    [ "$added" -ge 8 ] && [ "$removed" -ge 1 ] ||
        fail "vblkd saw $added DIMM regions added and $removed removed (expected 8 and 1)"
    grep -aq 'memory region added: .*(9 regions)' "$tmp/backend.log" ||
        fail "vblkd never held 9 regions"
fi
echo "PASS: guest-hotplug ($backend, seed $seed) in $((SECONDS - t0)) s"
