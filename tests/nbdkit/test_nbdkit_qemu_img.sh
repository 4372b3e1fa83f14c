#!/bin/sh
# SPDX-License-Identifier: MIT
# qemu-img convert into the device through the plugin and back out: the
# image behind the back end and the copy read back are byte for byte the
# source.
NBDKIT_TEST_TOOLS="qemu-img"
. "$(dirname "$0")/lib.sh"
start_backend 16M 2
start_nbdkit --threads=4 -- queues=2
head -c 16777216 /dev/urandom >"$TMP/src" || exit 1

qemu-img convert -n -f raw -O raw "$TMP/src" "$NBD" || nbd_fail "qemu-img convert file -> nbd"
cmp "$TMP/src" "$IMG" || nbd_fail "image behind the back end differs from the source"
qemu-img convert -f raw -O raw "$NBD" "$TMP/back" || nbd_fail "qemu-img convert nbd -> file"
cmp "$TMP/src" "$TMP/back" || nbd_fail "copy read back through the plugin differs"
exit 0
