#!/bin/sh
# SPDX-License-Identifier: MIT
# Faults of the cluster, seen through vblkd on RBD:
# - a pool or an image that does not exist, a wrong cephx key: vblkd exits
#   1 with a sentence that names the cause, within rbd-timeout-ms;
# - the OSD killed with SIGKILL in the middle of writes and restarted 4 s
#   later: the writes stall and then complete without an error, bytes intact;
# - the OSD gone for longer than rbd-timeout-ms: the waiting request fails
#   (I/O error) and vblkd keeps serving once the OSD is back;
# - the image deleted under vblkd (its RADOS objects removed: rbd rm refuses
#   an image with a watcher): a write fails with an I/O error, vblkd lives on.
# Arguments: VBLKD VBLK CEPH_CLUSTER_SH
. "$(dirname "$0")/lib.sh"
start_cluster
make_image disk 16M

refused() { # DISK WORDS
	start=$(date +%s)
	timeout 60 "$VBLKD" --socket "$TMP/bad" --disk "$1,rbd-timeout-ms=5000" >"$TMP/bad.out" 2>&1
	rc=$?
	[ $rc -eq 1 ] || fail "vblkd on $1: exit $rc, want 1: $(cat "$TMP/bad.out")"
	grep -q "$2" "$TMP/bad.out" || fail "vblkd on $1 did not say '$2': $(cat "$TMP/bad.out")"
	[ $(($(date +%s) - start)) -le 30 ] || fail "vblkd on $1 took more than 30 s to give up"
}
refused "rbd:nopool/disk:conf=$CEPH_CONF" "pool 'nopool'"
refused "rbd:rbd/noimage:conf=$CEPH_CONF" "cannot open image 'noimage'"
printf '[client.admin]\n\tkey = %s\n' "AQBfzYhlAAAAABAAWs1aObr7ZQYQVQ4+NDsUsw==" >"$TMP/bad.keyring"
refused "rbd:rbd/disk:conf=$CEPH_CONF:keyring=$TMP/bad.keyring" "cannot connect to the cluster"
refused "rbd:disk:conf=$CEPH_CONF" "want rbd:POOL"

# The OSD killed and restarted while writes are in flight.
start_vblkd "$TMP/s" "rbd:rbd/disk:conf=$CEPH_CONF"
truncate -s 16M "$TMP/expect"
for i in $(seq 0 15); do
	head -c 1048576 /dev/urandom >"$TMP/pat.$i"
	dd if="$TMP/pat.$i" of="$TMP/expect" bs=1M seek=$i conv=notrunc status=none
done
(
	for i in $(seq 0 15); do
		"$VBLK" write "$TMP/s" $((i * 1048576)) <"$TMP/pat.$i" || exit 1
		sleep 0.2
	done
) &
writer=$!
PIDS="$PIDS $writer"
sleep 0.5
sh "$CLUSTER" osd-stop "$TMP/ceph" || fail "osd-stop"
sleep 4
sh "$CLUSTER" osd-start "$TMP/ceph" || fail "osd-start"
wait $writer || fail "a write failed across the OSD restart"
"$VBLK" read "$TMP/s" 0 16M | cmp - "$TMP/expect" || fail "bytes differ after the OSD restart"
export_image disk "$TMP/export"
cmp "$TMP/expect" "$TMP/export" || fail "rbd export differs after the OSD restart"
stop_pid "$VBLKD_PID"

# The OSD gone past rbd-timeout-ms: an I/O error, and vblkd lives on.
start_vblkd "$TMP/t" "rbd:rbd/disk:conf=$CEPH_CONF,rbd-timeout-ms=3000"
sh "$CLUSTER" osd-stop "$TMP/ceph" || fail "osd-stop"
start=$(date +%s)
printf 'lost' | timeout 60 "$VBLK" write "$TMP/t" 0 2>"$TMP/werr" &&
	fail "a write with the OSD down for good succeeded"
grep -q "Input/output error\|I/O error" "$TMP/werr" || fail "not an I/O error: $(cat "$TMP/werr")"
[ $(($(date +%s) - start)) -le 30 ] || fail "the failed write took more than 30 s"
alive "$VBLKD_PID" || fail "vblkd died after the timeout"
sh "$CLUSTER" osd-start "$TMP/ceph" || fail "osd-start"
for _ in $(seq 30); do
	printf 'back' | "$VBLK" write "$TMP/t" 0 2>/dev/null && break
	sleep 1
done
[ "$("$VBLK" read "$TMP/t" 0 4)" = back ] || fail "vblkd does not serve after the OSD came back"
stop_pid "$VBLKD_PID"

make_image gone 8M
id=$(timeout 30 rbd info rbd/gone | sed -n 's/^[[:space:]]*id: //p')
[ -n "$id" ] || fail "no id for rbd/gone"
start_vblkd "$TMP/g" "rbd:rbd/gone:conf=$CEPH_CONF,rbd-timeout-ms=5000"
printf 'hello' | "$VBLK" write "$TMP/g" 0 || fail "write before the deletion"
for o in $(timeout 30 rados -p rbd ls | grep -F "$id"); do
	timeout 30 rados -p rbd rm "$o" || fail "rados rm $o"
done
timeout 30 rados -p rbd rmomapkey rbd_directory name_gone || fail "rados rmomapkey"
printf 'world' | timeout 60 "$VBLK" write "$TMP/g" 4M 2>"$TMP/werr" &&
	fail "a write to a deleted image succeeded"
grep -q "Input/output error" "$TMP/werr" || fail "not an I/O error: $(cat "$TMP/werr")"
alive "$VBLKD_PID" || fail "vblkd died when its image was deleted"
"$VBLK" info "$TMP/g" >/dev/null || fail "vblkd does not answer after its image was deleted"
echo "rbd: bad pool, image, key refused; OSD restart survived; OSD loss times out with EIO;"
echo "     a deleted image fails writes with EIO"
exit 0
