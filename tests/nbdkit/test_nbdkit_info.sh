#!/bin/sh
# SPDX-License-Identifier: MIT
# nbdinfo --json through the plugin: the device's size and the capabilities
# the plugin derives from its features (both back ends offer discard, write
# zeroes and a flush-able device); nbdkit -r makes it read-only.
NBDKIT_TEST_TOOLS="nbdinfo python3"
. "$(dirname "$0")/lib.sh"
start_backend 24M 2
start_nbdkit -- queues=2

# check KEY=VALUE...: fields of the first export in info.json, as Python literals.
check() {
	python3 - "$TMP/info.json" "$@" <<'PY' || nbd_fail "nbdinfo fields (json: $(cat "$TMP/info.json"))"
import json, sys
e = json.load(open(sys.argv[1]))["exports"][0]
bad = [kv for kv in sys.argv[2:] if repr(e.get(kv.split("=")[0])) != kv.split("=", 1)[1]]
for kv in bad:
    print("expected %s, got %r" % (kv, e.get(kv.split("=")[0])))
sys.exit(1 if bad else 0)
PY
}

nbdinfo --json "$NBD" >"$TMP/info.json" || nbd_fail "nbdinfo"
check export-size=25165824 is_read_only=False can_flush=True can_fua=True can_trim=True \
	can_zero=True can_fast_zero=True can_multi_conn=True block_size_minimum=512
grep -q 'vblk: .*2 queue(s)' "$NBDKIT_LOG" || nbd_fail "plugin did not open 2 queues"

# Read-only from nbdkit's side: no write, trim or zero offered.
stop_pid "$NBDKIT_PID"
start_nbdkit -r -- queues=1
nbdinfo --json "$NBD" >"$TMP/info.json" || nbd_fail "nbdinfo (read-only)"
check export-size=25165824 is_read_only=True can_trim=False can_zero=False
exit 0
