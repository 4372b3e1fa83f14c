#!/bin/sh
# SPDX-License-Identifier: MIT
# Sourced by the benchmark scripts (bench.sh, bench_ab.sh,
# bench_poll_device.sh, bench_poll_driver.sh): waiting for a back end's
# socket and stopping it, written once.

# bench_wait_socket WHO SOCK PID LOG: 0 once SOCK exists; 1 after printing
# "WHO: the back end did not start" and LOG when PID exits first or 10 s pass.
bench_wait_socket() {
	for _ in $(seq 200); do
		[ -S "$2" ] && return 0
		kill -0 "$3" 2>/dev/null || break
		sleep 0.05
	done
	echo "$1: the back end did not start:" >&2
	cat "$4" >&2
	return 1
}

# bench_stop PID: stop the back end and reap it; nothing for an empty PID.
bench_stop() {
	[ -n "$1" ] || return 0
	kill "$1" 2>/dev/null
	wait "$1" 2>/dev/null
	return 0
}
