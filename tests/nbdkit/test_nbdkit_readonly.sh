#!/bin/sh
# SPDX-License-Identifier: MIT
# nbdkit -r over a writable device: NBD offers no write, trim or zero, and a
# client's write is refused without reaching the image.
NBDKIT_TEST_TOOLS="nbdinfo python3 qemu-io"
. "$(dirname "$0")/lib.sh"
start_backend 8M 1
start_nbdkit -r
nbdinfo_check export-size=8388608 is_read_only=True can_trim=False can_zero=False
qemu-io -f raw "$NBD" -c "write -P 0xab 0 64k" >"$TMP/qemu-io.log" 2>&1
cmp -n 65536 "$IMG" /dev/zero || nbd_fail "a write through a read-only export reached the image"
grep -qi "read-only\|not permitted\|denied" "$TMP/qemu-io.log" ||
	nbd_fail "the write was not refused: $(cat "$TMP/qemu-io.log")"
exit 0
