#!/bin/bash
# SPDX-License-Identifier: MIT
# Image locking: vblkd takes QEMU's lock bytes (shared for ro, exclusive for
# read-write), so two writers never share an image.
#   image_lock.sh MODE VBLKD VBLK
#   rw-rw     a second read-write vblkd on the image exits 1, naming the
#             first (its pid); the first keeps serving; once it is gone the
#             image opens again
#   ro-ro     two ro vblkds on one image both serve
#   ro-rw     read-write while an ro vblkd holds the image: refused, and ro
#             while a read-write one holds it: refused
#   off       locking=off opens an image another vblkd writes
#   qemu      QEMU's tools see vblkd's lock: qemu-io cannot write and
#             qemu-img cannot resize an image vblkd serves read-write; and
#             vblkd refuses an image qemu-io has open for writing (77 without
#             qemu-io / qemu-img)
# Exit 0 pass, 1 fail, 77 skip.
set -u
mode=$1 vblkd=$2 vblk=$3
. "$(dirname "$0")/daemon_lib.sh"
img=$tmp/disk.img

# refused NAME DISK: vblkd on DISK must exit 1 within 10 s, with a one-line
# error that says the image is locked; the line is left in $tmp/NAME.err.
refused() {
	local name=$1 rc
	timeout 10 "$vblkd" --socket "$tmp/$name.sock" --disk "$2" >"$tmp/$name.err" 2>&1
	rc=$?
	[ $rc -eq 1 ] || fail "$name on $2 exited $rc, want 1: $(cat "$tmp/$name.err")"
	[ "$(wc -l <"$tmp/$name.err")" -eq 1 ] || fail "$name: not one line: $(cat "$tmp/$name.err")"
	grep -q "holds a lock on '$img' (is another vblkd or QEMU using it?)" "$tmp/$name.err" ||
		fail "$name: unclear error: $(cat "$tmp/$name.err")"
	[ -e "$tmp/$name.sock" ] && fail "$name created its socket although the image is locked"
	return 0
}

truncate -s 16M "$img" || exit 1
case $mode in
rw-rw)
	start a "$tmp/a.sock" --disk "$img"
	a=$pid
	refused b "$img"
	grep -q "(pid $a, vblkd)" "$tmp/b.err" || fail "the error does not name pid $a: $(cat "$tmp/b.err")"
	serves "$tmp/a.sock"
	stop "$a"
	start b "$tmp/b.sock" --disk "$img"
	serves "$tmp/b.sock"
	;;
ro-ro)
	start a "$tmp/a.sock" --disk "$img,ro"
	start b "$tmp/b.sock" --disk "$img,ro"
	serves "$tmp/a.sock"
	serves "$tmp/b.sock"
	grep -q "read-only: *yes" "$tmp/info.out" || fail "not read-only"
	;;
ro-rw)
	start a "$tmp/a.sock" --disk "$img,ro"
	a=$pid
	refused b "$img"
	serves "$tmp/a.sock"
	stop "$a"
	start b "$tmp/b.sock" --disk "$img"
	refused c "$img,ro"
	serves "$tmp/b.sock"
	;;
off)
	start a "$tmp/a.sock" --disk "$img"
	refused b "$img"
	start c "$tmp/c.sock" --disk "$img,locking=off"
	serves "$tmp/c.sock"
	serves "$tmp/a.sock"
	;;
qemu)
	command -v qemu-io >/dev/null && command -v qemu-img >/dev/null || exit 77
	start a "$tmp/a.sock" --disk "$img"
	a=$pid
	if qemu-io -f raw -c 'write 0 4k' "$img" >"$tmp/qemu-io.out" 2>&1; then
		fail "qemu-io wrote to an image vblkd serves: $(cat "$tmp/qemu-io.out")"
	fi
	grep -q 'Failed to get "write" lock' "$tmp/qemu-io.out" ||
		fail "qemu-io failed for another reason: $(cat "$tmp/qemu-io.out")"
	if qemu-img resize -f raw "$img" 32M >"$tmp/qemu-img.out" 2>&1; then
		fail "qemu-img resized an image vblkd serves: $(cat "$tmp/qemu-img.out")"
	fi
	grep -q 'Failed to get .* lock' "$tmp/qemu-img.out" ||
		fail "qemu-img failed for another reason: $(cat "$tmp/qemu-img.out")"
	[ "$(stat -c %s "$img")" = 16777216 ] || fail "the image was resized"
	# QEMU readers that let others write (qemu-img info on a raw image) are
	# not refused: the same answer QEMU gives against its own writers.
	qemu-img info -f raw "$img" >/dev/null 2>&1 || fail "qemu-img info refused"
	stop "$a"
	# The refusals came from the lock: without vblkd, the same commands work.
	qemu-io -f raw -c 'write 0 4k' "$img" >"$tmp/qemu-io.out" 2>&1 ||
		fail "qemu-io cannot write the image: $(cat "$tmp/qemu-io.out")"
	# And the other way round: qemu-io holding the image open read-write.
	mkfifo "$tmp/qemu-io.in"
	qemu-io -f raw "$img" <"$tmp/qemu-io.in" >"$tmp/qemu-io.log" 2>&1 &
	pids+=($!)
	exec 3>"$tmp/qemu-io.in" # keeps qemu-io waiting for commands
	for _ in $(seq 200); do
		grep -qs "lock:.* 100 101" /proc/"${pids[-1]}"/fdinfo/* && break
		sleep 0.05
	done
	refused b "$img"
	grep -q "qemu-io" "$tmp/b.err" || fail "the error does not name qemu-io: $(cat "$tmp/b.err")"
	refused c "$img,ro"
	exec 3>&-
	;;
*)
	echo "unknown mode $mode" >&2
	exit 1
	;;
esac
exit 0
