#!/usr/bin/env bash
# backend_errors.sh MODE VBLKD VBLK - a failing backing store reaches the
# client as an I/O error on that request only, and vblkd keeps serving.
#   nbd-error  vblkd on `nbdkit --filter=error memory`: while the error file
#              exists writes fail (VIRTIO_BLK_S_IOERR -> vblk exits 1 with one
#              line); once it is gone the next write succeeds and reads back.
#   enospc     vblkd on a sparse image in a 1 MiB tmpfs: a write that needs
#              blocks fails with IOERR (ENOSPC), reads still work, the daemon
#              keeps serving; vblkd logs the failure once per burst.
# Exit 0 pass, 1 fail, 77 skip (nbdkit missing / not root for mount).
set -euo pipefail
mode=$1 vblkd=$2 vblk=$3
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-beerr.XXXXXX")
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
	mountpoint -q "$tmp/mnt" 2>/dev/null && umount "$tmp/mnt"
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$tmp/vblkd.log" 2>/dev/null; exit 1; }
wait_sock() { for _ in $(seq 100); do [ -S "$1" ] && return 0; sleep 0.05; done; fail "no socket $1"; }

case "$mode" in
nbd-error)
	command -v nbdkit >/dev/null || { echo "SKIP: nbdkit not installed"; exit 77; }
	touch "$tmp/err"
	nbdkit -f -U "$tmp/nbd.sock" --filter=error memory 64M \
		error-pwrite=EIO error-pwrite-rate=100% error-pwrite-file="$tmp/err" &
	pids+=($!)
	wait_sock "$tmp/nbd.sock"
	disk="nbd+unix:///?socket=$tmp/nbd.sock,reconnect-ms=500"
	;;
enospc)
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root to mount a tmpfs"; exit 77; }
	mkdir "$tmp/mnt"
	mount -t tmpfs -o size=1m tmpfs "$tmp/mnt" || { echo "SKIP: cannot mount tmpfs"; exit 77; }
	disk="$tmp/mnt/disk.img,size=64M"
	;;
*) echo "usage: $0 nbd-error|enospc VBLKD VBLK"; exit 2 ;;
esac

"$vblkd" --socket "$tmp/vb.sock" --disk "$disk" >"$tmp/vblkd.log" 2>&1 &
vpid=$!
pids+=($vpid)
wait_sock "$tmp/vb.sock"

if [ "$mode" = nbd-error ]; then
	if head -c 4096 /dev/urandom | "$vblk" write "$tmp/vb.sock" 0 2>"$tmp/err.txt"; then
		fail "a write succeeded while the server injected EIO"
	fi
	[ "$(wc -l <"$tmp/err.txt")" -eq 1 ] || fail "expected one error line, got: $(cat "$tmp/err.txt")"
	echo "injected error seen by the client: $(cat "$tmp/err.txt")"
	rm "$tmp/err"
	head -c 4096 /dev/urandom >"$tmp/data"
	"$vblk" write "$tmp/vb.sock" 0 <"$tmp/data" || fail "write after the errors stopped"
	"$vblk" read "$tmp/vb.sock" 0 4096 | cmp - "$tmp/data" || fail "read back differs"
else
	# 4 MiB of data cannot fit in a 1 MiB tmpfs.
	head -c 4M /dev/urandom >"$tmp/data"
	if "$vblk" write "$tmp/vb.sock" 0 <"$tmp/data" 2>"$tmp/err.txt"; then
		fail "4 MiB write into a 1 MiB filesystem succeeded"
	fi
	echo "ENOSPC seen by the client: $(head -1 "$tmp/err.txt")"
	"$vblk" read "$tmp/vb.sock" $((32 * 1024 * 1024)) 4096 | cmp - <(head -c 4096 /dev/zero) ||
		fail "read after ENOSPC"
	n=$(grep -c "No space left" "$tmp/vblkd.log" || true)
	[ "$n" -ge 1 ] || fail "vblkd did not log the ENOSPC"
	[ "$n" -le 3 ] || fail "vblkd logged ENOSPC $n times for one burst"
fi
kill -0 "$vpid" 2>/dev/null || fail "vblkd died"
"$vblk" info "$tmp/vb.sock" >/dev/null || fail "vblkd stopped serving"
kill -TERM "$vpid"
wait "$vpid" || fail "vblkd exit status $? after SIGTERM"
pids=("${pids[@]:1}")
echo "PASS: $mode"
