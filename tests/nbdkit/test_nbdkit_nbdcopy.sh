#!/bin/sh
# SPDX-License-Identifier: MIT
# nbdcopy both ways. The plugin offers multi-conn, so nbdcopy opens several
# NBD connections that share the one vhost-user device; more nbdkit threads
# than queues make threads share a queue.
NBDKIT_TEST_TOOLS="nbdcopy"
. "$(dirname "$0")/lib.sh"
start_backend 16M 2
start_nbdkit --threads=6 -- queues=2
head -c 16777216 /dev/urandom >"$TMP/src" || exit 1

nbdcopy --connections=3 --requests=8 "$TMP/src" "$NBD" || nbd_fail "nbdcopy file -> nbd"
cmp "$TMP/src" "$IMG" || nbd_fail "image behind the back end differs from the source"
nbdcopy --connections=3 --requests=8 "$NBD" "$TMP/back" || nbd_fail "nbdcopy nbd -> file"
cmp "$TMP/src" "$TMP/back" || nbd_fail "copy read back through the plugin differs"
[ "$(grep -c 'debug: accepted connection' "$NBDKIT_LOG")" -ge 2 ] ||
	nbd_fail "nbdcopy did not open several connections"
exit 0
