#!/usr/bin/env bash
# test_guest_reconnect.sh - the back end crashes under a running guest
# (meson suite 'guest').
#
# Boots a TCG guest on a fresh 128 MiB image with the vhost-user chardev in
# reconnect=1 mode and runs workloads/reconnect.sh (guest_io stress: 8 jobs
# writing seeded O_DIRECT data and reading each write back, for
# VBLK_GUEST_STRESS_SECS seconds). Meanwhile run-guest.sh SIGKILLs the back
# end VBLK_GUEST_KILLS times and restarts it on the same socket. Passes when
#   1. the guest saw no I/O error and no wrong data (its own read-backs and
#      its final re-read of every slot),
#   2. the back end really was killed that many times and QEMU reconnected
#      to every new incarnation,
#   3. after the run the image holds every write the guest saw acknowledged:
#      guest_io stress-verify replays the seeded plan with the per-job
#      iteration counts the guest printed; untouched bytes must be zero.
# In writethrough mode (vblkd's default) acknowledged means durable, so the
# image file itself is the judge.
# With VBLK_GUEST_PACKED=1 (vblkd only) the device is packed=on and the guest
# drives packed rings (virtio 1.3 §2.8): the back-end log must show the queues
# started packed, and the resubmissions then come from the packed layout of
# the inflight region.
#
# Environment: VBLK_GUEST_BACKEND (vblkd | qsd), VBLKD, VBLK_GUEST_SEED,
# VBLK_GUEST_KILLS (default 3), VBLK_GUEST_STRESS_SECS (default 30),
# VBLK_GUEST_PACKED=1, VBLK_GUEST_KEEP=1, and those of run-guest.sh.
# Exit: 0 pass, 1 fail, 77 skip.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backend=${VBLK_GUEST_BACKEND:-vblkd}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
kills=${VBLK_GUEST_KILLS:-3}
secs=${VBLK_GUEST_STRESS_SECS:-30}
jobs=8
# shellcheck source=guest-common.sh
. "$here/guest-common.sh"
guest_prereqs "$backend" busybox cpio gcc mke2fs e2fsck

packed=${VBLK_GUEST_PACKED:-}
# libvhost-user (qemu-storage-daemon) has no packed rings.
[ -z "$packed" ] || [ "$backend" = vblkd ] || skip "packed ring: only vblkd implements it"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-guest-rc.XXXXXX")
cleanup() {
    if [ "${VBLK_GUEST_KEEP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

img=$tmp/disk.img
truncate -s 128M "$img"
seed=${VBLK_GUEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "backend=$backend seed=$seed kills=$kills stress=${secs}s image=$img"

# The first kill 4 s into the stress run, then evenly spread over it.
interval=$(( (secs - 6) / kills ))
[ "$interval" -ge 2 ] || fail "VBLK_GUEST_STRESS_SECS=$secs is too short for $kills kills"
args=(--backend "$backend" --image "$img" --script reconnect --seed "$seed"
      --log "$tmp/console.log" --backend-log "$tmp/backend.log" --cache "$cache"
      --kill-backend "$kills" --kill-after 4 --kill-interval "$interval" --kill-down 1
      --guest-args "vblk_secs=$secs vblk_jobs=$jobs" --timeout 420)
[ "$backend" = vblkd ] && args+=(--vblkd "$VBLKD")
[ -n "$packed" ] && args+=(--packed)
[ -n "${VBLK_GUEST_DISK_OPTS:-}" ] && args+=(--disk-opts "$VBLK_GUEST_DISK_OPTS")

t0=$SECONDS
if ! "$here/run-guest.sh" "${args[@]}"; then
    # The reference back end has a known inflight-recovery race: killed
    # between adding a used element and clearing its inflight entry, a
    # restarted qemu-storage-daemon (libvhost-user) completes that request
    # again and the guest driver breaks the ring ("id N is not a head!").
    # vhost-user.rst "Inflight I/O tracking" (used_idx, last_batch_head) is
    # the rule it misses; vblkd is held to it by the same test, so for qsd
    # this outcome is reported as the reference's defect, not ours.
    if [ "$backend" = qsd ] && grep -aq 'is not a head' "$tmp/console.log" 2>/dev/null; then
        skip "qemu-storage-daemon completed a request twice after a restart (its inflight-recovery race, seed $seed)"
    fi
    fail "guest run failed (backend $backend, seed $seed)"
fi
echo "guest run: $((SECONDS - t0)) s"

con=$(tr -d '\r' < "$tmp/console.log")
lines=$(grep -a '^VBLK_STRESS job=' <<< "$con" || true)
[ "$(grep -c . <<< "$lines")" -eq "$jobs" ] || fail "expected $jobs VBLK_STRESS lines, got: $lines"
grep -q FAILED <<< "$lines" && fail "a guest job failed: $lines"
counts=$(sort -t= -k2n <<< "$lines" | sed 's/.*iterations=\([0-9]*\).*/\1/' | paste -sd, -)
unit=$(grep -a '^VBLK_STRESS_UNIT ' <<< "$con" | head -1 | cut -d' ' -f2)
[ -n "$unit" ] || fail "no VBLK_STRESS_UNIT line from the guest"
echo "guest: iterations per job: $counts (unit $unit)"

# Every incarnation must have served QEMU (vblkd logs each connection).
if [ "$backend" = vblkd ]; then
    conns=$(grep -c 'client connected' "$tmp/backend.log" || true)
    [ "$conns" -ge $((kills + 1)) ] ||
        fail "QEMU connected $conns times, expected at least $((kills + 1)) (one per back end)"
    echo "host: $conns connections; kills and resubmissions:"
    grep -a 'backend killed\|resubmitting' "$tmp/backend.log" | sed 's/^/  /'
    # kill-inflight.py aims each kill at a moment with requests in flight; if
    # none of them hit, the run proved reconnect but not resubmission.
    grep -q 'resubmitting' "$tmp/backend.log" ||
        fail "no restart had requests to resubmit (kill-inflight.py never caught one in flight)"
    if [ -n "$packed" ]; then
        # Every start after the guest chose packed (the early boot probe may
        # be split) is packed, and none ran untracked.
        starts=$(grep -a 'started: ' "$tmp/backend.log" || true)
        first=$(printf '%s\n' "$starts" | grep -n 'started: packed ring' | head -1 | cut -d: -f1)
        [ -n "$first" ] || fail "vblkd never started a packed ring"
        printf '%s\n' "$starts" | tail -n +"$first" | grep -q 'started: split ring' &&
            fail "a split ring started after the guest chose packed"
        grep -a 'not tracked\|running untracked' "$tmp/backend.log" &&
            fail "a packed ring ran without in-flight tracking"
        echo "host: $(printf '%s\n' "$starts" | grep -c 'packed ring') packed queue start(s)"
    fi
fi

echo "host: verifying the image against the stress plan"
"$cache/guest_io.host" stress-verify -s "$seed" -a "$unit" -j "$jobs" -n "$counts" "$img" ||
    fail "the image does not hold every acknowledged write"

echo "PASS: guest-reconnect ($backend, seed $seed, $kills kills) in $((SECONDS - t0)) s"
