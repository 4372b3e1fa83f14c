# SPDX-License-Identifier: MIT
# Sourced by the integration scripts that run several vblkds: a private temp
# dir, every daemon killed at exit, and start/stop/serves helpers.
# Needs $vblkd and $vblk; sets $tmp. Logs go to $tmp/NAME.log.

tmp=$(mktemp -d /tmp/vblk-${0##*/}.XXXXXX)
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null; done
	rm -rf "$tmp"
}
trap cleanup EXIT

fail() {
	local f
	echo "FAIL: $*" >&2
	for f in "$tmp"/*.log; do
		[ -f "$f" ] && { echo "--- $f:" >&2; cat "$f" >&2; }
	done
	exit 1
}

# start NAME SOCK ARGS...: vblkd --socket SOCK ARGS... in the background,
# until it serves (its log says so: a stale socket may already be at SOCK);
# sets $pid.
start() {
	local name=$1 sock=$2
	shift 2
	"$vblkd" --socket "$sock" "$@" >"$tmp/$name.log" 2>&1 &
	pid=$!
	pids+=("$pid")
	for _ in $(seq 200); do
		[ -S "$sock" ] && grep -q "serving" "$tmp/$name.log" && return 0
		kill -0 "$pid" 2>/dev/null || fail "$name exited before serving on $sock"
		sleep 0.05
	done
	fail "$name did not serve on $sock within 10 s"
}

# stop PID: SIGTERM, and it must exit 0 within 10 s.
stop() {
	kill -TERM "$1"
	for _ in $(seq 200); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$1" 2>/dev/null && fail "vblkd $1 still running 10 s after SIGTERM"
	wait "$1" || fail "vblkd $1 exited $? after SIGTERM"
}

# serves SOCK: a fresh client gets the device's configuration ($tmp/info.out).
serves() {
	"$vblk" info "$1" >"$tmp/info.out" 2>&1 || fail "vblk info $1 failed: $(cat "$tmp/info.out")"
	grep -q capacity "$tmp/info.out" || fail "vblk info $1 printed no capacity"
}
