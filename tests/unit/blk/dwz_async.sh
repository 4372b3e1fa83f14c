#!/usr/bin/env bash
# dwz_async.sh TEST - run test_blk_dwz_async on a file and on a loop device,
# both on a scratch ext4 file system that the test freezes while zeroing.
# Needs root (mount, losetup, FIFREEZE); exit 77 otherwise.
set -euo pipefail
prog=$1
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (mount, losetup, FIFREEZE)"; exit 77; }
command -v mkfs.ext4 >/dev/null || { echo "SKIP: no mkfs.ext4"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-dwz.XXXXXX")
mnt="$tmp/mnt" loop="" mounted=""
cleanup() {
	# The test thaws, but not if it died while frozen.
	[ -n "$mounted" ] && { fsfreeze -u "$mnt" 2>/dev/null || true; }
	[ -n "$loop" ] && { losetup -d "$loop" 2>/dev/null || true; }
	if [ -n "$mounted" ]; then
		# losetup -d detaches asynchronously: the file system stays busy a moment.
		for _ in $(seq 50); do umount "$mnt" 2>/dev/null && mounted="" && break; sleep 0.1; done
		[ -z "$mounted" ] || umount -l "$mnt"
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
mkdir "$mnt"
truncate -s 512M "$tmp/fs.img"
mkfs.ext4 -q "$tmp/fs.img"
mount -o loop,noatime "$tmp/fs.img" "$mnt" 2>/dev/null || { echo "SKIP: cannot mount"; exit 77; }
mounted=1
truncate -s 64M "$mnt/img"
echo "== regular file"
"$prog" "$mnt/img" "$mnt"
truncate -s 64M "$mnt/loopimg"
loop=$(losetup -f --show "$mnt/loopimg" 2>/dev/null) || { echo "SKIP: no loop device"; exit 77; }
echo "== block device ($loop on a file of the frozen file system), buffered"
"$prog" "$loop" "$mnt"
echo "== block device, O_DIRECT"
"$prog" "$loop" "$mnt" direct
