#!/usr/bin/env bash
# nbd_durability.sh VBLKD CLIENT VBLK - end to end through vblkd in writeback
# mode on an NBD server without multi-conn (nbdkit memory behind
# multi-conn-mode=disable), two queues, so two NBD connections:
#   - a write, then two flushes in the same session: both succeed;
#   - a write acknowledged on queue 0, the server killed and a fresh one
#     started on the same socket (the data is gone), then a flush on queue 0
#     and, in a second session, on queue 1: the first flush fails with EIO,
#     the second succeeds (the loss is reported once);
#   - vblkd keeps serving: `vblk flush` succeeds, the lost range reads zeroes.
# CLIENT is nbd_flush_client. Exit 0 pass, 1 fail, 77 skip (nbdkit missing).
set -euo pipefail
vblkd=$1 client=$2 vblk=$3
command -v nbdkit >/dev/null || { echo "SKIP: nbdkit not installed"; exit 77; }
nbdkit --filter=multi-conn null --dump-plugin >/dev/null 2>&1 ||
	{ echo "SKIP: nbdkit multi-conn filter not installed"; exit 77; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/vblk-nbddur.XXXXXX")
nbd_pid= vblkd_pid= client_pid=
cleanup() {
	for p in $client_pid $vblkd_pid $nbd_pid; do
		kill "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; cat "$tmp/vblkd.log" 2>/dev/null; exit 1; }
wait_sock() { for _ in $(seq 200); do [ -S "$1" ] && return 0; sleep 0.05; done; fail "no socket $1"; }

# A fresh, empty server on the same socket.
start_nbd() {
	rm -f "$tmp/nbd.sock"
	nbdkit -f -U "$tmp/nbd.sock" --filter=multi-conn memory 64M multi-conn-mode=disable &
	nbd_pid=$!
	wait_sock "$tmp/nbd.sock"
}
restart_nbd() {
	kill -KILL "$nbd_pid"
	wait "$nbd_pid" 2>/dev/null || true
	start_nbd
}

# session WRITE_Q FLUSH_Q RESTART(0|1): the client's "flush=.. flush=.." line in $r.
# Not run in a subshell: restart_nbd must update nbd_pid for cleanup.
session() {
	rm -f "$tmp/in" "$tmp/out"
	mkfifo "$tmp/in"
	"$client" "$tmp/vb.sock" "$1" "$2" <"$tmp/in" >"$tmp/out" &
	client_pid=$!
	exec 3>"$tmp/in"
	for _ in $(seq 200); do grep -q written "$tmp/out" 2>/dev/null && break; sleep 0.05; done
	grep -q written "$tmp/out" || fail "the client did not write"
	[ "$3" = 1 ] && restart_nbd
	echo go >&3
	exec 3>&-
	wait "$client_pid" || fail "client exit status $?"
	client_pid=
	r=$(grep flush= "$tmp/out") || fail "no flush result from the client"
}

start_nbd
"$vblkd" --socket "$tmp/vb.sock" \
	--disk "nbd+unix:///?socket=$tmp/nbd.sock,writeback,queues=2,reconnect-ms=5000" \
	>"$tmp/vblkd.log" 2>&1 &
vblkd_pid=$!
wait_sock "$tmp/vb.sock"

session 0 0 0
[ "$r" = "flush=0 flush=0" ] || fail "no loss: expected two good flushes, got '$r'"
echo "no loss: $r"
session 0 0 1
[ "$r" = "flush=-5 flush=0" ] || fail "loss, same queue: expected EIO then success, got '$r'"
echo "server restarted, flush on the writing queue: $r"
session 0 1 1
[ "$r" = "flush=-5 flush=0" ] || fail "loss, other queue: expected EIO then success, got '$r'"
echo "server restarted, flush on the other queue: $r"

"$vblk" flush "$tmp/vb.sock" || fail "vblk flush after the losses"
"$vblk" read "$tmp/vb.sock" 0 65536 | cmp -s - <(head -c 65536 /dev/zero) ||
	fail "the lost write is still there: the server was not really restarted"
kill -0 "$vblkd_pid" 2>/dev/null || fail "vblkd died"
kill -TERM "$vblkd_pid"
wait "$vblkd_pid" || fail "vblkd exit status $? after SIGTERM"
vblkd_pid=
echo "PASS"
