#!/bin/sh
# SPDX-License-Identifier: MIT
# nbdinfo --json through the plugin: the device's size and the capabilities
# the plugin derives from its features (both back ends offer discard, write
# zeroes and a flush-able device).
NBDKIT_TEST_TOOLS="nbdinfo python3"
. "$(dirname "$0")/lib.sh"
start_backend 24M 2
start_nbdkit -- queues=2
nbdinfo_check export-size=25165824 is_read_only=False can_flush=True can_fua=True can_trim=True \
	can_zero=True can_fast_zero=True can_multi_conn=True block_size_minimum=512
grep -q 'vblk: .*2 queue(s)' "$NBDKIT_LOG" || nbd_fail "plugin did not open 2 queues"
exit 0
