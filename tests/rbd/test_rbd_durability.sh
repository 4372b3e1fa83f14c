#!/bin/sh
# SPDX-License-Identifier: MIT
# Writethrough (vblkd's default) on RBD: every write vblk saw acknowledged is
# in RADOS, even when vblkd is killed with SIGKILL right after (librbd's
# cache acknowledges before the OSD has the data; FUA writes are flushed).
# In writeback, what a FLUSH covered survives the same. Checked from Ceph's
# side with rbd export. Arguments: VBLKD VBLK CEPH_CLUSTER_SH
. "$(dirname "$0")/lib.sh"
start_cluster
make_image disk 16M
start_vblkd "$TMP/s" "rbd:rbd/disk:conf=$CEPH_CONF,writethrough"
"$VBLK" info "$TMP/s" | grep -q "write cache: *writethrough" || fail "not writethrough"
# librbd's cache stays writethrough until it sees a flush; after one it
# acknowledges writes before the OSD has them. With the OSD stopped, a
# writethrough write must therefore wait (its flush cannot complete).
"$VBLK" flush "$TMP/s" || fail "vblk flush"
osd=$(cat "$TMP/ceph/run/osd.0.pid") || fail "no OSD pid file"
kill -STOP "$osd"
head -c 65536 /dev/urandom >"$TMP/held"
"$VBLK" write "$TMP/s" 0 <"$TMP/held" &
held=$!
PIDS="$PIDS $held"
sleep 3
if ! alive "$held"; then
	kill -CONT "$osd"
	fail "a writethrough write completed while the OSD was stopped"
fi
kill -CONT "$osd"
wait "$held" || fail "the held write failed once the OSD went on"
truncate -s 16M "$TMP/expect"
dd if="$TMP/held" of="$TMP/expect" conv=notrunc status=none
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

# Writeback: the writes are only promised once a FLUSH completed.
make_image wb 16M
start_vblkd "$TMP/wb" "rbd:rbd/wb:conf=$CEPH_CONF,writeback"
"$VBLK" info "$TMP/wb" | grep -q "write cache: *writeback" || fail "not writeback"
head -c 4194304 /dev/urandom >"$TMP/wbpat"
"$VBLK" flush "$TMP/wb" || fail "vblk flush (writeback)"
# The OSD stopped: the writes may complete (librbd's cache), the FLUSH may not.
kill -STOP "$osd"
"$VBLK" write "$TMP/wb" 4096 <"$TMP/wbpat" || { kill -CONT "$osd"; fail "vblk write (writeback)"; }
"$VBLK" flush "$TMP/wb" &
held=$!
PIDS="$PIDS $held"
sleep 3
if ! alive "$held"; then
	kill -CONT "$osd"
	fail "a FLUSH completed while the OSD was stopped"
fi
kill -CONT "$osd"
wait "$held" || fail "vblk flush (writeback) failed once the OSD went on"
kill -KILL "$VBLKD_PID"
wait "$VBLKD_PID" 2>/dev/null
export_image wb "$TMP/export"
dd if="$TMP/export" bs=4096 skip=1 status=none | head -c 4194304 | cmp - "$TMP/wbpat" ||
	fail "flushed writeback writes missing after kill -9 of vblkd"
echo "rbd: writethrough writes, and flushed writeback writes, survive kill -9 of vblkd"
exit 0
