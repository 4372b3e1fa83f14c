#!/bin/bash
# SPDX-License-Identifier: MIT
# vblkd's vhost-user socket: who may connect, and whose it is.
#   socket.sh MODE VBLKD VBLK
#   umask    under umask 000 the socket is still srw------- (owner only)
#   group    --socket-mode 0660 --socket-group G gives exactly that
#   second   a second vblkd on the same path exits 1 with one line and
#            the first keeps serving; a stale socket (its daemon killed) is
#            replaced
#   replaced a vblkd whose path was taken over by another daemon leaves the
#            newcomer's socket alone at exit
#   usage    bad --socket-mode / --socket-group / locking= values are usage
#            errors (exit 2, one line, no socket)
# Exit 0 pass, 1 fail.
set -u
mode=$1 vblkd=$2 vblk=$3
. "$(dirname "$0")/daemon_lib.sh"

# No temporary directory of ours is left next to the socket.
no_leftovers() {
	local left
	left=$(find "$tmp" -maxdepth 1 -name '.vblkd*')
	[ -z "$left" ] || fail "left behind: $left"
}

sock=$tmp/vhost.sock
case $mode in
umask)
	(
		umask 000
		exec "$vblkd" --socket "$sock" --disk null:1M
	) >"$tmp/a.log" 2>&1 &
	pids+=($!)
	for _ in $(seq 200); do
		[ -S "$sock" ] && break
		sleep 0.05
	done
	[ -S "$sock" ] || fail "no socket"
	perms=$(stat -c %A "$sock")
	[ "$perms" = srw------- ] || fail "socket is $perms under umask 000, want srw-------"
	[ "$(stat -c %u "$sock")" = "$(id -u)" ] || fail "socket not owned by us"
	serves "$sock"
	no_leftovers
	;;
group)
	# Any group but our own primary one shows the chown happened; as
	# non-root only our own groups are allowed.
	if [ "$(id -u)" = 0 ]; then
		group=$(getent group 1 | cut -d: -f1)
	else
		group=$(id -Gn | tr ' ' '\n' | grep -vx "$(id -gn)" | head -n 1)
	fi
	[ -n "$group" ] || group=$(id -gn)
	start a "$sock" --disk null:1M --socket-mode 0660 --socket-group "$group"
	perms=$(stat -c %A "$sock")
	[ "$perms" = srw-rw---- ] || fail "socket is $perms, want srw-rw----"
	[ "$(stat -c %G "$sock")" = "$group" ] || fail "socket group $(stat -c %G "$sock"), want $group"
	serves "$sock"
	stop "$pid"
	# A numeric gid and another mode.
	gid=$(getent group "$group" | cut -d: -f3)
	start b "$sock" --disk null:1M --socket-mode 640 --socket-group "$gid"
	[ "$(stat -c %a:%g "$sock")" = "640:$gid" ] || fail "socket is $(stat -c %a:%g "$sock")"
	no_leftovers
	;;
second)
	start first "$sock" --disk null:1M
	first=$pid
	"$vblkd" --socket "$sock" --disk null:1M >"$tmp/second.out" 2>&1 &
	second=$!
	pids+=("$second")
	for _ in $(seq 200); do
		kill -0 "$second" 2>/dev/null || break
		sleep 0.05
	done
	kill -0 "$second" 2>/dev/null && fail "second vblkd still running after 10 s"
	wait "$second"
	rc=$?
	[ $rc -eq 1 ] || fail "second vblkd exited $rc, want 1: $(cat "$tmp/second.out")"
	[ "$(wc -l <"$tmp/second.out")" -eq 1 ] ||
		fail "second vblkd: not one line: $(cat "$tmp/second.out")"
	grep -q "another daemon is listening" "$tmp/second.out" ||
		fail "second vblkd: unclear error: $(cat "$tmp/second.out")"
	kill -0 "$first" 2>/dev/null || fail "the first vblkd died"
	serves "$sock"
	# The first one dies without cleaning up: its socket is stale, and replaced.
	kill -KILL "$first"
	wait "$first" 2>/dev/null
	[ -S "$sock" ] || fail "SIGKILL removed the socket?"
	start third "$sock" --disk null:1M
	serves "$sock"
	stop "$pid"
	[ -e "$sock" ] && fail "socket left behind after a clean exit"
	no_leftovers
	;;
replaced)
	start old "$sock" --disk null:1M
	old=$pid
	# An administrator moves the socket away and starts a new daemon there.
	mv "$sock" "$tmp/moved.sock"
	start new "$sock" --disk null:2M
	new=$pid
	stop "$old"
	[ -S "$sock" ] || fail "the exiting vblkd removed the newcomer's socket"
	serves "$sock"
	grep -q "capacity: *2097152" "$tmp/info.out" || fail "the socket is not the new daemon's"
	stop "$new"
	[ -e "$sock" ] && fail "the new daemon left its socket behind"
	no_leftovers
	;;
usage)
	for args in "--socket-mode 0999" "--socket-mode 01777" "--socket-mode -1" \
		"--socket-mode rw" "--socket-group no-such-group-vblk" "--socket-group -5"; do
		# shellcheck disable=SC2086 # split on purpose
		"$vblkd" --socket "$sock" --disk null:1M $args >"$tmp/err" 2>&1
		rc=$?
		[ $rc -eq 2 ] || fail "vblkd $args exited $rc, want 2: $(cat "$tmp/err")"
		[ "$(wc -l <"$tmp/err")" -eq 1 ] || fail "vblkd $args: not one line: $(cat "$tmp/err")"
		[ -e "$sock" ] && fail "vblkd $args created a socket"
	done
	"$vblkd" --fd 0 --socket-mode 0600 --disk null:1M >"$tmp/err" 2>&1
	[ $? -eq 2 ] || fail "--socket-mode with --fd accepted: $(cat "$tmp/err")"
	"$vblkd" --socket "$sock" --disk null:1M,locking=maybe >"$tmp/err" 2>&1
	[ $? -eq 2 ] || fail "locking=maybe accepted: $(cat "$tmp/err")"
	"$vblkd" --help | grep -q -- "--socket-mode" || fail "--help lacks --socket-mode"
	"$vblkd" --help | grep -q -- "--socket-group" || fail "--help lacks --socket-group"
	"$vblkd" --help | grep -q -- "locking=" || fail "--help lacks locking="
	;;
*)
	echo "unknown mode $mode" >&2
	exit 1
	;;
esac
exit 0
