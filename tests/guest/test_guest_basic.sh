#!/usr/bin/env bash
# test_guest_basic.sh - end-to-end guest test (meson suite 'guest').
#
# Creates a fresh 256 MiB sparse image in a temp dir, boots a TCG guest on it
# through a vhost-user-blk backend (run-guest.sh, workload "basic"), then
# checks the image on the host after the backend has exited:
#   1. raw region (upper half): guest_io plan-verify regenerates every byte the
#      guest wrote (same plan, same seed) and requires all other bytes of that
#      region to still be zero;
#   2. filesystem (lower half): e2fsck -fn must report a clean ext4;
#   3. every file checksum the guest printed (VBLK_SUM lines) must match the
#      file's content read from the image with debugfs.
#
# Environment:
#   VBLK_GUEST_BACKEND  qsd (default) | vblkd
#   VBLKD               path of the vblkd executable (backend vblkd)
#   VBLK_GUEST_DISK_OPTS  passed as --disk-opts to run-guest.sh
#   VBLK_GUEST_SEED     data seed (default: random, printed)
#   VBLK_GUEST_CACHE, VBLK_GUEST_TIMEOUT, VBLK_GUEST_SMP, VBLK_GUEST_KERNEL:
#                       see run-guest.sh / mkinitramfs.sh
#   VBLK_GUEST_PACKED=1  packed=on device (run-guest.sh --packed); with vblkd the
#                       back-end log must show every started queue as packed
#   VBLK_GUEST_KEEP=1   keep the temp dir (image + console log) for debugging
# Exit: 0 pass, 1 fail, 77 skip (no qemu / kernel / backend available).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backend=${VBLK_GUEST_BACKEND:-qsd}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
# ------------------------------------------------------------ prerequisites
# shellcheck source=guest-common.sh
. "$here/guest-common.sh"
guest_prereqs "$backend" busybox cpio gcc mke2fs e2fsck

# ------------------------------------------------------------ run
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-guest-test.XXXXXX")
cleanup() {
    if [ "${VBLK_GUEST_KEEP:-0}" = 1 ]; then
        echo "kept $tmp"
    else
        rm -rf "$tmp"
    fi
}
trap cleanup EXIT

img=$tmp/disk.img
truncate -s 256M "$img"
seed=${VBLK_GUEST_SEED:-$(( (RANDOM << 15) | RANDOM ))}
echo "backend=$backend seed=$seed image=$img"

args=(--backend "$backend" --image "$img" --script basic --seed "$seed"
      --log "$tmp/console.log" --cache "$cache")
[ "$backend" = vblkd ] && args+=(--vblkd "$VBLKD")
[ -n "${VBLK_GUEST_DISK_OPTS:-}" ] && args+=(--disk-opts "$VBLK_GUEST_DISK_OPTS")
# VBLK_GUEST_QUEUES=default: the README's command (no queue count on either
# side, VBLK_GUEST_SMP vCPUs).
[ -n "${VBLK_GUEST_QUEUES:-}" ] && args+=(--queues "$VBLK_GUEST_QUEUES")
packed=${VBLK_GUEST_PACKED:-}
if [ -n "$packed" ]; then
    # libvhost-user (qemu-storage-daemon) has no packed rings.
    [ "$backend" = vblkd ] || skip "packed ring: only vblkd implements it"
    args+=(--packed --backend-log "$tmp/backend.log")
fi

t0=$SECONDS
"$here/run-guest.sh" "${args[@]}" || fail "guest run failed (backend $backend, seed $seed)"
echo "guest run: $((SECONDS - t0)) s"

# ------------------------------------------------------------ packed negotiated?
# The firmware (SeaBIOS) drives the disk first and knows only split rings, so
# early starts may be split; from the first packed start on (the guest kernel
# accepted VIRTIO_F_RING_PACKED) every start must be packed.
if [ -n "$packed" ]; then
    starts=$(grep -a 'queue [0-9]*: started: ' "$tmp/backend.log" || true)
    first=$(printf '%s\n' "$starts" | grep -n 'started: packed ring' | head -1 | cut -d: -f1)
    [ -n "$first" ] || { cat "$tmp/backend.log"; fail "vblkd never started a packed ring"; }
    later_split=$(printf '%s\n' "$starts" | tail -n +"$first" | grep -c 'split ring' || true)
    [ "$later_split" -eq 0 ] ||
        { cat "$tmp/backend.log"; fail "a split ring started after the guest chose packed"; }
    echo "host: $(printf '%s\n' "$starts" | grep -c 'packed ring') packed queue start(s):" \
        "$(printf '%s\n' "$starts" | grep -m1 'packed ring')"
fi

# ------------------------------------------------------------ host checks
[ "$(stat -c %s "$img")" = $((256 * 1024 * 1024)) ] || fail "image size changed"

echo "host: raw region check"
"$cache/guest_io.host" plan-verify -s "$seed" -r buffered -z basic "$img" ||
    fail "raw region of the image does not hold the data the guest wrote"

echo "host: e2fsck -fn"
e2fsck -fn "$img" || fail "e2fsck found problems in the guest-made ext4"

if command -v debugfs >/dev/null; then
    echo "host: file checksums via debugfs"
    sums=$(tr -d '\r' < "$tmp/console.log" | grep -a '^VBLK_SUM ' || true)
    n=$(printf '%s\n' "$sums" | grep -c . || true)
    [ "$n" -ge 30 ] || fail "expected >= 30 VBLK_SUM lines from the guest, got $n"
    bad=0
    while read -r _ sum path; do
        got=$(debugfs -R "cat $path" "$img" 2>/dev/null | sha256sum | cut -d' ' -f1)
        if [ "$got" != "$sum" ]; then
            echo "  mismatch: $path guest=$sum image=$got"
            bad=$((bad + 1))
        fi
    done <<< "$sums"
    [ "$bad" -eq 0 ] || fail "$bad file(s) differ between guest and image"
    echo "host: $n files match"
else
    echo "host: debugfs not installed, skipping per-file checksum comparison"
fi

echo "PASS: guest-basic ($backend, seed $seed) in $((SECONDS - t0)) s"
