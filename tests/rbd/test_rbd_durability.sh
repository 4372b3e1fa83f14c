#!/bin/sh
# SPDX-License-Identifier: MIT
# Writethrough (vblkd's default) on RBD: every write vblk saw acknowledged is
# in RADOS, even when vblkd is killed with SIGKILL right after (librbd's
# cache acknowledges before the OSD has the data; FUA writes are flushed).
# Checked from Ceph's side with rbd export. Arguments: VBLKD VBLK CEPH_CLUSTER_SH
. "$(dirname "$0")/lib.sh"
start_cluster
make_image disk 16M
start_vblkd "$TMP/s" "rbd:rbd/disk:conf=$CEPH_CONF,writethrough"
"$VBLK" info "$TMP/s" | grep -q "write cache: *writethrough" || fail "not writethrough"
truncate -s 16M "$TMP/expect"
for i in 0 1 2 3 4 5 6 7; do
	off=$((i * 1048576 + i * 4096 + 512))
	head -c 777216 /dev/urandom >"$TMP/pat"
	"$VBLK" write "$TMP/s" $off <"$TMP/pat" || fail "vblk write $i"
	dd if="$TMP/pat" of="$TMP/expect" bs=512 seek=$((off / 512)) conv=notrunc status=none
done
# No flush, no clean close: whatever was acknowledged must already be there.
kill -KILL "$VBLKD_PID"
wait "$VBLKD_PID" 2>/dev/null
export_image disk "$TMP/export"
cmp "$TMP/expect" "$TMP/export" || fail "acknowledged writes missing after kill -9 of vblkd"
echo "rbd: writethrough writes acknowledged before kill -9 are all in RADOS"
exit 0
