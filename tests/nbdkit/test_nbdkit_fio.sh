#!/bin/sh
# SPDX-License-Identifier: MIT
# fio's nbd engine through the plugin: random writes of 8 MiB with crc32c
# checksums, then fio reads every block back and verifies it.
NBDKIT_TEST_TOOLS="fio python3"
. "$(dirname "$0")/lib.sh"
start_backend 16M 2
start_nbdkit --threads=4 -- queues=2

# Bounded: 8 MiB written once then read once; runtime is a safety net.
fio --name=verify --ioengine=nbd --uri="$NBD" --rw=randwrite --bs=4k --size=8M \
	--iodepth=8 --verify=crc32c --do_verify=1 --verify_fatal=1 --runtime=60 \
	--output-format=json --output="$TMP/fio.json" >"$TMP/fio.out" 2>&1 ||
	{ cat "$TMP/fio.out"; nbd_fail "fio verify job"; }
python3 - "$TMP/fio.json" <<'PY' || nbd_fail "fio did not write and verify 8 MiB: $(cat "$TMP/fio.json")"
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
# The verify phase reads what was written: both directions carry 8 MiB.
ok = j["error"] == 0 and j["write"]["io_bytes"] == 8 << 20 and j["read"]["io_bytes"] == 8 << 20
sys.exit(0 if ok else 1)
PY
exit 0
