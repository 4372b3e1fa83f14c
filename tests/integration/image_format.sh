#!/bin/bash
# SPDX-License-Identifier: MIT
# An image in a format (qcow2, VMDK, VHDX, VDI, VHD, QED) is not a raw disk:
# vblkd refuses it, in one line that names the format and says how to serve
# it, unless the disk option format=raw says to serve its bytes as they are.
#   image_format.sh MODE VBLKD VBLK
#   refuse    each format qemu-img creates is refused: exit 1, one line naming
#             the format and qemu-nbd --format=FMT, no socket
#   raw       format=raw serves a qcow2 file (its bytes, file-sized); a raw
#             image is served without it, also one with a signature past
#             byte 0; format=qcow2 is a usage error
#   qemu-nbd  what the refusal suggests works: qemu-nbd --format=qcow2 and
#             --disk nbd+unix:// serve the qcow2 image's disk (skip without
#             NBD support)
# Exit 0 pass, 1 fail, 77 skip (no qemu-img).
set -u
mode=$1 vblkd=$2 vblk=$3
. "$(dirname "$0")/daemon_lib.sh"
command -v qemu-img >/dev/null || { echo "SKIP: no qemu-img (qemu-utils)"; exit 77; }

# capacity SOCK: the device size vblk info reported for it.
capacity() {
	serves "$1"
	sed -n 's/^capacity: *\([0-9]*\) bytes.*/\1/p' "$tmp/info.out"
}

case $mode in
refuse)
	for fmt in qcow2 vmdk vhdx vdi vpc qed; do
		img=$tmp/disk.$fmt
		qemu-img create -q -f "$fmt" "$img" 16M || fail "qemu-img create -f $fmt failed"
		# timeout: a vblkd that serves the image would never return.
		timeout 20 "$vblkd" --socket "$tmp/$fmt.sock" --disk "$img" >"$tmp/out" 2>"$tmp/err"
		rc=$?
		[ $rc -eq 1 ] || fail "$fmt image: vblkd exited $rc, want 1"
		[ -e "$tmp/$fmt.sock" ] && fail "$fmt image: socket created"
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "$fmt image: stderr is not one line: $(cat "$tmp/err")"
		grep -q "is a $fmt image" "$tmp/err" || fail "$fmt image: the error does not name $fmt: $(cat "$tmp/err")"
		grep -q "qemu-nbd --format=$fmt" "$tmp/err" || fail "$fmt image: no qemu-nbd hint: $(cat "$tmp/err")"
		grep -q "format=raw" "$tmp/err" || fail "$fmt image: format=raw not mentioned: $(cat "$tmp/err")"
	done
	# A VMDK descriptor file (the monolithicFlat kind) is text, and refused too.
	qemu-img create -q -f vmdk -o subformat=monolithicFlat "$tmp/flat.vmdk" 1M
	timeout 20 "$vblkd" --socket "$tmp/flat.sock" --disk "$tmp/flat.vmdk" 2>"$tmp/err" &&
		fail "a VMDK descriptor file was served"
	grep -q "is a vmdk image" "$tmp/err" || fail "VMDK descriptor: $(cat "$tmp/err")"
	;;
raw)
	qemu-img create -q -f qcow2 "$tmp/disk.qcow2" 16M
	start a "$tmp/a.sock" --disk "$tmp/disk.qcow2,format=raw"
	# The file's bytes, in whole 512-byte sectors.
	want=$(($(stat -c %s "$tmp/disk.qcow2") / 512 * 512))
	[ "$(capacity "$tmp/a.sock")" = "$want" ] || fail "format=raw: capacity is not the file's $want bytes"
	"$vblk" read "$tmp/a.sock" 0 512 | head -c 4 | od -An -tx1 | grep -q "51 46 49 fb" ||
		fail "format=raw: the device does not start with the qcow2 header"
	stop "$pid"

	qemu-img create -q -f raw "$tmp/disk.raw" 16M
	start b "$tmp/b.sock" --disk "$tmp/disk.raw"
	[ "$(capacity "$tmp/b.sock")" = 16777216 ] || fail "raw image: capacity not 16 MiB"
	# A guest may well write a qcow2 image into its disk: only byte 0 counts.
	printf 'QFI\373' | "$vblk" write "$tmp/b.sock" 4096 || fail "write failed"
	stop "$pid"
	start c "$tmp/c.sock" --disk "$tmp/disk.raw"
	stop "$pid"

	timeout 20 "$vblkd" --socket "$tmp/d.sock" --disk "$tmp/disk.qcow2,format=qcow2" 2>"$tmp/err"
	rc=$?
	[ $rc -eq 2 ] || fail "format=qcow2 exited $rc, want 2 (usage)"
	grep -q "qemu-nbd" "$tmp/err" || fail "format=qcow2: no qemu-nbd hint: $(cat "$tmp/err")"
	;;
qemu-nbd)
	command -v qemu-nbd >/dev/null || { echo "SKIP: no qemu-nbd"; exit 77; }
	qemu-img create -q -f qcow2 "$tmp/disk.qcow2" 32M
	qemu-nbd --format=qcow2 --socket="$tmp/nbd.sock" --persistent "$tmp/disk.qcow2" \
		>"$tmp/qemu-nbd.log" 2>&1 &
	nbd_pid=$!
	pids+=("$nbd_pid")
	for _ in $(seq 200); do
		[ -S "$tmp/nbd.sock" ] && break
		sleep 0.05
	done
	[ -S "$tmp/nbd.sock" ] || fail "qemu-nbd did not start"
	"$vblkd" --socket "$tmp/x.sock" --disk "nbd+unix:///?socket=$tmp/nbd.sock" 2>"$tmp/err" &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 200); do
		[ -S "$tmp/x.sock" ] && break
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.05
	done
	if ! [ -S "$tmp/x.sock" ]; then
		grep -q "no NBD support" "$tmp/err" && { echo "SKIP: vblkd built without libnbd"; exit 77; }
		fail "vblkd did not serve the NBD export: $(cat "$tmp/err")"
	fi
	# The disk inside the image: 32 MiB, not the file's few hundred KiB.
	[ "$(capacity "$tmp/x.sock")" = 33554432 ] || fail "the NBD export is not the qcow2 disk"
	printf 'through-qemu-nbd' | "$vblk" write "$tmp/x.sock" 1048576 || fail "write failed"
	"$vblk" flush "$tmp/x.sock" || fail "flush failed"
	stop "$pid"
	kill -TERM "$nbd_pid"
	wait "$nbd_pid" 2>/dev/null
	# 't', the first byte written; qemu-io still says "read 1/1" after a mismatch.
	qemu-io -f qcow2 -r -c 'read -P 0x74 1048576 1' "$tmp/disk.qcow2" >"$tmp/qemu-io.out" 2>&1
	grep -q "read 1/1" "$tmp/qemu-io.out" && ! grep -q "verification failed" "$tmp/qemu-io.out" ||
		fail "the write did not land in the qcow2 image: $(cat "$tmp/qemu-io.out")"
	;;
*)
	fail "unknown mode $mode"
	;;
esac
exit 0
