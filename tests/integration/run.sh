#!/bin/bash
# SPDX-License-Identifier: MIT
# Start a vhost-user-blk back end on a fresh 64 MiB image, run one vu_front
# mode against it, then stop it with SIGTERM.
#   run.sh vblkd VU_FRONT MODE VBLKD    (also checks: exit 0, socket removed)
#   run.sh qsd   VU_FRONT MODE          (qemu-storage-daemon as the reference)
# Exit 0 pass, 1 fail, 77 skip.
set -u
kind=$1 front=$2 mode=$3 daemon=${4:-}
tmp=$(mktemp -d /tmp/vblk-it.XXXXXX)
img=$tmp/disk.img sock=$tmp/vhost.sock log=$tmp/daemon.log
pid=
cleanup() {
	[ -n "$pid" ] && kill -KILL "$pid" 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() {
	echo "FAIL: $*" >&2
	echo "--- daemon log:" >&2
	cat "$log" >&2
	exit 1
}

truncate -s 64M "$img" || exit 1
case $kind in
vblkd)
	serial=vblk-it-serial-12345
	"$daemon" --socket "$sock" --disk "$img,serial=$serial,queues=2,writeback" >"$log" 2>&1 &
	pid=$!
	;;
qsd)
	command -v qemu-storage-daemon >/dev/null || { echo "SKIP: no qemu-storage-daemon"; exit 77; }
	# QEMU's vhost-user-blk-server answers GET_ID with this fixed string.
	serial=vhost_user_blk
	export VU_FRONT_LAX_ID=1
	qemu-storage-daemon \
		--blockdev driver=file,node-name=file0,filename="$img" \
		--blockdev driver=raw,node-name=disk0,file=file0 \
		--export type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path="$sock",writable=on,num-queues=2 \
		>"$log" 2>&1 &
	pid=$!
	;;
*)
	echo "unknown back end $kind" >&2
	exit 1
	;;
esac

for _ in $(seq 200); do
	[ -S "$sock" ] && break
	kill -0 "$pid" 2>/dev/null || fail "$kind exited before creating its socket"
	sleep 0.05
done
[ -S "$sock" ] || fail "$kind did not create $sock"

# sigterm mode signals the daemon itself, with its requests in flight.
VU_FRONT_DAEMON_PID=$pid "$front" "$mode" "$sock" "$img" "$serial"
rc=$?
[ $rc -eq 77 ] && exit 77
# libvhost-user (qemu-storage-daemon 7.2) closes a replaced call fd in its
# control thread while its queue thread may still write it, and then panics.
# vu_front lets the last interrupt arrive first, which makes this rare, not
# impossible; it is the reference's race, not a harness or vblkd failure.
if [ $rc -ne 0 ] && [ "$kind" = qsd ] && grep -q 'Error writing eventfd: Bad file descriptor' "$log"; then
	echo "SKIP: qemu-storage-daemon hit its call-fd replacement race (vu_panic in its log)"
	exit 77
fi
[ $rc -eq 0 ] || fail "vu_front $mode against $kind"

kill -TERM "$pid"
wait "$pid"
drc=$?
pid=
if [ "$kind" = vblkd ]; then
	[ $drc -eq 0 ] || fail "vblkd exited $drc after SIGTERM"
	[ -e "$sock" ] && fail "vblkd left $sock behind"
fi
exit 0
