#!/bin/sh
# SPDX-License-Identifier: MIT
# A back end without VIRTIO_F_RING_PACKED (qemu-storage-daemon: libvhost-user
# has no packed rings): vblk --packed fails with exit 1 and one line naming
# the missing feature; without --packed the same back end works.
VBLK=$1
. "$(dirname "$0")/backend.sh"
start_backend 16M 1

"$VBLK" info "$SOCK" >/dev/null || fail "info without --packed"
for cmd in "info $SOCK" "read $SOCK 0 512" "bench $SOCK --rw=read --bs=4k --iodepth=1 --runtime=1"; do
	# shellcheck disable=SC2086 # the words of cmd are separate arguments
	"$VBLK" $cmd --packed >"$TMP/out" 2>"$TMP/err"
	rc=$?
	[ $rc -eq 1 ] || fail "$cmd --packed: exit $rc, expected 1"
	[ "$(wc -l <"$TMP/err")" -eq 1 ] || fail "$cmd --packed: not one line: $(cat "$TMP/err")"
	grep -q "does not offer VIRTIO_F_RING_PACKED" "$TMP/err" ||
		fail "$cmd --packed: unclear error: $(cat "$TMP/err")"
	[ -s "$TMP/out" ] && fail "$cmd --packed: wrote to stdout"
done
echo "qsd refuses --packed: $(cat "$TMP/err")"
exit 0
