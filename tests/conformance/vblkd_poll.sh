#!/bin/sh
# SPDX-License-Identifier: MIT
# vblkd with ,poll-us=50 added to its --disk, so that conformance groups
# run against queue threads that poll their ring (docs/polling.md): a
# hostile ring must break the queue, stop and be stopped the same way.
#   VBLKD=path/to/vblkd vblkd_poll.sh ARGS...
[ -n "${VBLKD:-}" ] || { echo "vblkd_poll.sh: VBLKD not set" >&2; exit 127; }
n=$#
disk=false
while [ "$n" -gt 0 ]; do
	a=$1
	shift
	if $disk; then a="$a,poll-us=50"; fi
	disk=false
	[ "$a" = --disk ] && disk=true
	set -- "$@" "$a"
	n=$((n - 1))
done
exec "$VBLKD" "$@"
