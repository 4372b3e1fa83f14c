#!/usr/bin/env bash
# pad_stress.sh VBLKD PAD_STRESS - issue 4's lost-update stress through the
# daemon: vblkd with sectorsize=512/4096,direct=on,queues=4 on a loop device
# with 4096-byte sectors (its O_DIRECT alignment is 4096, so 512-byte guest
# writes need read-modify-write). pad_stress writes interleaved sectors from
# 4 queues and checks them; this script then checks the loop device itself.
# Needs root (losetup); exit 77 otherwise.
set -euo pipefail
vblkd=$1 stress=$2
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root for losetup"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-pad.XXXXXX")
loop="" vpid=""
cleanup() {
	[ -n "$vpid" ] && { kill "$vpid" 2>/dev/null; wait "$vpid" 2>/dev/null || true; }
	[ -n "$loop" ] && losetup -d "$loop"
	rm -rf "$tmp"
}
trap cleanup EXIT
truncate -s 16M "$tmp/img"
loop=$(losetup -f --show -b 4096 "$tmp/img" 2>/dev/null) || { echo "SKIP: no loop device"; exit 77; }
[ "$(blockdev --getss "$loop")" = 4096 ] || { echo "SKIP: loop device without 4K sectors"; exit 77; }
"$vblkd" --socket "$tmp/sock" --disk "$loop,sectorsize=512/4096,direct=on,queues=4" >"$tmp/log" 2>&1 &
vpid=$!
for _ in $(seq 100); do [ -S "$tmp/sock" ] && break; sleep 0.05; done
"$stress" "$tmp/sock" 3 || { cat "$tmp/log"; exit 1; }
kill -TERM "$vpid"
wait "$vpid" || { echo "FAIL: vblkd exit $?"; cat "$tmp/log"; exit 1; }
vpid=""
# Every sector on the device itself holds round 3's pattern.
python3 - "$loop" <<'PY'
import struct, sys
with open(sys.argv[1], "rb") as f:
    data = f.read(4096 * 512)
bad = 0
for s in range(4096):
    want = bytearray([(s * 7 + 3) & 0xff] * 512)
    want[0:8] = struct.pack("<Q", s)
    if data[s * 512:(s + 1) * 512] != bytes(want):
        bad += 1
if bad:
    sys.exit(f"FAIL: {bad} sectors on the loop device lost their last update")
print("loop device: all 4096 sectors hold the last update")
PY
echo "PASS: pad stress"
