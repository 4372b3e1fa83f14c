# SPDX-License-Identifier: MIT
# Sourced (POSIX sh) by the shell test libraries that start processes in
# the background (tests/client/backend.sh, tests/rbd/lib.sh): how a test
# waits for one to go and stops it.

# Is $1 still running (a zombie waiting to be reaped is not)?
alive() {
	case $(ps -o stat= -p "$1" 2>/dev/null) in
	'' | Z*) return 1 ;;
	esac
	return 0
}

# SIGTERM, up to 5 s to exit, then SIGKILL; a stopped process is continued first.
stop_pid() {
	kill -CONT "$1" 2>/dev/null
	kill "$1" 2>/dev/null || return 0
	for _ in $(seq 50); do
		alive "$1" || break
		sleep 0.1
	done
	kill -KILL "$1" 2>/dev/null
	wait "$1" 2>/dev/null
}
