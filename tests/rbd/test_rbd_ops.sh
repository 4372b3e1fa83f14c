#!/bin/sh
# SPDX-License-Identifier: MIT
# Every request type through vblkd to an RBD image (rbd_ops: multi-segment,
# unaligned buffers, write-zeroes, discard, flush, two queues), then the
# image as Ceph sees it (rbd export) equals what was written; vblk write /
# read on top; a snapshot is served read-only with its bytes.
# Arguments: VBLKD VBLK CEPH_CLUSTER_SH RBD_OPS
. "$(dirname "$0")/lib.sh"
OPS=$1
start_cluster
make_image disk 20M
start_vblkd "$TMP/s" "rbd:rbd/disk:conf=$CEPH_CONF,queues=2"
VBLK_SOCK=$TMP/s "$OPS" "$TMP/model" || fail "rbd_ops"
export_image disk "$TMP/export"
cmp "$TMP/model" "$TMP/export" || fail "rbd export differs from what vblkd acknowledged"

# vblk: an unaligned write (read-modify-write in vblk) read back, then in Ceph.
head -c 300001 /dev/urandom >"$TMP/pat"
"$VBLK" write "$TMP/s" 1000 <"$TMP/pat" || fail "vblk write"
"$VBLK" read "$TMP/s" 1000 300001 | cmp - "$TMP/pat" || fail "vblk read differs"
"$VBLK" flush "$TMP/s" || fail "vblk flush"
export_image disk "$TMP/export"
dd if="$TMP/export" bs=1000 skip=1 count=301 status=none | head -c 300001 | cmp - "$TMP/pat" ||
	fail "rbd export differs from the vblk write"
"$VBLK" info "$TMP/s" >"$TMP/info" || fail "vblk info"
grep -q VIRTIO_BLK_F_TOPOLOGY "$TMP/info" || fail "no topology (object size) offered"
grep -q VIRTIO_BLK_F_DISCARD "$TMP/info" || fail "no discard offered"
stop_pid "$VBLKD_PID"
# SIGTERM closes the image: no watch is left for the next client to wait out.
timeout 30 rbd status rbd/disk | grep -q "Watchers: none" || fail "vblkd left its watch on SIGTERM"

# A snapshot: read-only, and it keeps the bytes of the moment it was taken.
timeout 60 rbd snap create rbd/disk@s1 >/dev/null 2>&1 || fail "rbd snap create"
start_vblkd "$TMP/snap" "rbd:rbd/disk@s1:conf=$CEPH_CONF"
start_vblkd "$TMP/s2" "rbd:rbd/disk:conf=$CEPH_CONF"
printf 'changed' | "$VBLK" write "$TMP/s2" 1000 || fail "write after the snapshot"
"$VBLK" info "$TMP/snap" | grep -q "read-only: *yes" || fail "snapshot not read-only"
printf 'x' | "$VBLK" write "$TMP/snap" 0 2>/dev/null && fail "write to a snapshot accepted"
"$VBLK" read "$TMP/snap" 1000 300001 | cmp - "$TMP/pat" || fail "snapshot bytes changed"

# vblk copy with rbd: on either side (vblkd's backend layer inside vblk):
# a file into an image, the image out to a vhost-user device (vblkd on
# another image) and back into a file; rbd export sees the same bytes.
head -c 3000000 /dev/urandom >"$TMP/src"
truncate -s 4M "$TMP/src"
make_image copy 4M
make_image copy2 4M
"$VBLK" copy "$TMP/src" "rbd:rbd/copy:conf=$CEPH_CONF" --json >"$TMP/json" ||
	fail "vblk copy FILE rbd:"
# The file's hole reached the image as write-zeroes, not as data.
grep -q '"zero_method": "rbd-write-zeroes"' "$TMP/json" || fail "zeroes not zeroed: $(cat "$TMP/json")"
export_image copy "$TMP/export"
cmp "$TMP/src" "$TMP/export" || fail "rbd export differs after vblk copy into rbd:"
start_vblkd "$TMP/c2" "rbd:rbd/copy2:conf=$CEPH_CONF"
"$VBLK" copy "rbd:rbd/copy:conf=$CEPH_CONF" "vhost-user:$TMP/c2" || fail "vblk copy rbd: vhost-user:"
"$VBLK" copy "vhost-user:$TMP/c2" "$TMP/back" || fail "vblk copy vhost-user: FILE"
cmp "$TMP/src" "$TMP/back" || fail "bytes differ after rbd: -> vhost-user -> file"
"$VBLK" copy "rbd:rbd/copy@nosnap:conf=$CEPH_CONF" "$TMP/x" 2>"$TMP/cerr" &&
	fail "vblk copy from a missing snapshot succeeded"
grep -q "nosnap" "$TMP/cerr" || fail "vblk copy did not name the missing snapshot: $(cat "$TMP/cerr")"

# Online resize: rbd resize by another client and nothing else (no SIGHUP):
# vblkd learns it from its watch on the image header, the device has the new
# capacity and its last bytes are usable. A header update that is no resize
# (a snapshot) changes nothing.
make_image grow 8M
start_vblkd "$TMP/g" "rbd:rbd/grow:conf=$CEPH_CONF"
"$VBLK" info "$TMP/g" | grep -q "capacity: *8388608 " || fail "not 8 MiB before the resize"
timeout 60 rbd resize --size 24M rbd/grow >/dev/null 2>&1 || fail "rbd resize"
for _ in $(seq 50); do
	"$VBLK" info "$TMP/g" | grep -q "capacity: *25165824 " && break
	sleep 0.2
done
"$VBLK" info "$TMP/g" | grep -q "capacity: *25165824 " || fail "the resize did not reach the device"
grep -q "resize: the disk now has 25165824 bytes" "$TMP/g.log" || fail "vblkd did not log the resize"
timeout 60 rbd snap create rbd/grow@s >/dev/null 2>&1 || fail "rbd snap create"
for _ in $(seq 50); do
	grep -q "resize: the disk still has 25165824 bytes" "$TMP/g.log" && break
	sleep 0.2
done
grep -q "resize: the disk still has 25165824 bytes" "$TMP/g.log" ||
	fail "a snapshot (a header update) did not reach vblkd's watch"
alive "$VBLKD_PID" || fail "vblkd died after the header updates"
printf 'end' | "$VBLK" write "$TMP/g" 25165821 || fail "write at the new end"
export_image grow "$TMP/export"
[ "$(tail -c 3 "$TMP/export")" = end ] || fail "the new end's bytes are not in the image"
echo "rbd: every request type, rbd export, a read-only snapshot, vblk copy and resize agree"
exit 0
