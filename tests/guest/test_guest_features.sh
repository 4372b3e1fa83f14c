#!/usr/bin/env bash
# test_guest_features.sh - device features seen by a Linux guest (issue 4):
#   boot 1 (workloads/features.sh, 2 vCPUs, queues=2): block sizes, both
#     hardware queues used, cache_type switch reaching the device, blkdiscard,
#     write zeroes with and without unmap, and fstrim; the host then checks the discarded ranges read
#     as zeroes and are holes (allocated size of the image), and, for vblkd,
#     that its log shows both write-cache switches.
#   boot 2 (workloads/ro.sh, vblkd only, `ro`): the guest sees a read-only
#     disk and the image is unchanged afterwards.
#   boot 3 (workloads/range.sh, vblkd only, `range=64M/128M,sectorsize=4096`):
#     a 128 MiB disk with 4 KiB logical blocks; the guest fills it and writes
#     past its end; the host checks that only the exported bytes changed.
# Env: VBLK_GUEST_BACKEND=qsd|vblkd, VBLKD, VBLK_GUEST_CACHE,
# VBLK_GUEST_FEATURES_BOOTS=1 (boot 1 only: the RBD run, where boots 2 and 3
# would test nothing of the disk's own), VBLK_GUEST_VBLKD_LOG=0 (the back-end
# log is not vblkd's: a stand-in such as tests/rbd/over-rbd.sh runs another
# server). Exit 0/1/77.
# For qsd the hole and log checks are skipped: its blockdev ignores discards
# unless configured with discard=unmap, and its log format is its own.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
backend=${VBLK_GUEST_BACKEND:-qsd}
cache=${VBLK_GUEST_CACHE:-${TMPDIR:-/tmp}/vblk-guest-cache-$(id -u)}
skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; exit 1; }

command -v "${QEMU:-qemu-system-x86_64}" >/dev/null || skip "qemu-system-x86_64 not installed"
ls /boot/vmlinuz-* >/dev/null 2>&1 || [ -n "${VBLK_GUEST_KERNEL:-}" ] || skip "no kernel in /boot"
case "$backend" in
    qsd)   command -v "${QSD:-qemu-storage-daemon}" >/dev/null || skip "qemu-storage-daemon not installed" ;;
    vblkd) [ -n "${VBLKD:-}" ] && [ -x "${VBLKD}" ] || skip "VBLKD not set or not executable" ;;
    *)     fail "unknown VBLK_GUEST_BACKEND=$backend" ;;
esac

tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-guest-feat.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
M=$((1024 * 1024))
common=(--backend "$backend" --cache "$cache")
[ "$backend" = vblkd ] && common+=(--vblkd "$VBLKD")

# ---------------------------------------------------------------- boot 1
img=$tmp/disk.img
truncate -s 256M "$img"
"$here/run-guest.sh" "${common[@]}" --image "$img" --script features --smp 2 --queues 2 \
    --log "$tmp/console.log" --backend-log "$tmp/backend.log" ||
    fail "features guest run failed ($backend)"
grep -aq "VBLK_FEAT done" "$tmp/console.log" || fail "guest did not finish the features workload"

# virtio 1.3 §5.2.6: write zeroes must read back as zeroes; discarded data is
# undefined, so that range is checked for vblkd only (vblkd punches holes).
echo "host: write-zeroes ranges [96M, 112M) read as zeroes"
nz=$(dd if="$img" bs=$M skip=96 count=16 2>/dev/null | tr -d '\000' | wc -c)
[ "$nz" -eq 0 ] || fail "$nz non-zero bytes in the write-zeroes ranges"

if [ "$backend" = vblkd ]; then
    # Bytes of data (not holes) in [lo, hi), by SEEK_DATA/SEEK_HOLE.
    data_in() {
        python3 - "$img" "$1" "$2" <<'PY'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
lo, hi = int(sys.argv[2]), int(sys.argv[3])
pos, n = lo, 0
while pos < hi:
    try:
        d = os.lseek(fd, pos, os.SEEK_DATA)
    except OSError:
        break
    if d >= hi:
        break
    h = os.lseek(fd, d, os.SEEK_HOLE)
    n += min(h, hi) - d
    pos = h
print(n)
PY
    }
    nz=$(dd if="$img" bs=$M skip=64 count=32 2>/dev/null | tr -d '\000' | wc -c)
    [ "$nz" -eq 0 ] || fail "$nz non-zero bytes in the discarded range"
    raw=$(( $(data_in $((64 * M)) $((96 * M))) + $(data_in $((104 * M)) $((112 * M))) ))
    fs=$(data_in 0 $((64 * M)))
    echo "host: data in discarded raw ranges: $raw bytes; in the trimmed ext4: $((fs / M)) MiB"
    # [96M, 104M) was zeroed without unmap: allocated or not, both are right.
    [ "$raw" -eq 0 ] || fail "discard / write zeroes with unmap left $raw bytes allocated"
    # 40 MiB were written and deleted; metadata (journal, inode tables) stays.
    [ "$fs" -lt $((28 * M)) ] || fail "fstrim did not punch the deleted file: $fs bytes of data"
    if [ "${VBLK_GUEST_VBLKD_LOG:-1}" = 1 ]; then
        grep -q "write cache: writeback" "$tmp/backend.log" || fail "vblkd never saw the switch to writeback"
        grep -q "write cache: writethrough" "$tmp/backend.log" || fail "vblkd never saw the switch back"
    fi
fi

# ---------------------------------------------------------------- boot 2
boots=${VBLK_GUEST_FEATURES_BOOTS:-3}
if [ "$backend" = vblkd ] && [ "$boots" -ge 2 ]; then
    img2=$tmp/ro.img
    truncate -s 64M "$img2"
    head -c $M /dev/urandom | dd of="$img2" conv=notrunc 2>/dev/null
    before=$(sha256sum < "$img2")
    "$here/run-guest.sh" "${common[@]}" --image "$img2" --script ro --disk-opts ro \
        --log "$tmp/console-ro.log" || fail "ro guest run failed"
    [ "$(sha256sum < "$img2")" = "$before" ] || fail "the read-only image changed"
fi
# ---------------------------------------------------------------- boot 3
if [ "$backend" = vblkd ] && [ "$boots" -ge 3 ]; then
    # range=64M/128M,sectorsize=4096: the guest fills its whole disk with
    # 0xA5; outside [64M, 192M) the image must keep its own pattern.
    img3=$tmp/range.img
    head -c $((256 * M)) /dev/zero | tr '\000' '\132' >"$img3"
    "$here/run-guest.sh" "${common[@]}" --image "$img3" --script range \
        --disk-opts range=64M/128M,sectorsize=4096 --log "$tmp/console-range.log" ||
        fail "range guest run failed"
    inside=$(dd if="$img3" bs=$M skip=64 count=128 2>/dev/null | tr -d '\245' | wc -c)
    before=$(dd if="$img3" bs=$M count=64 2>/dev/null | tr -d '\132' | wc -c)
    after=$(dd if="$img3" bs=$M skip=192 count=64 2>/dev/null | tr -d '\132' | wc -c)
    echo "host: range: $inside bytes inside not written by the guest; $before + $after bytes outside changed"
    [ "$inside" -eq 0 ] || fail "the guest's writes did not land at the range"
    [ "$before" -eq 0 ] && [ "$after" -eq 0 ] || fail "bytes outside the exported range changed"
fi
echo "PASS: guest-features ($backend)"
