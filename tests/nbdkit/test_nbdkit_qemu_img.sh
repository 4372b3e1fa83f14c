#!/bin/sh
# SPDX-License-Identifier: MIT
# qemu-img convert into the device through the plugin and back out: the
# image behind the back end and the copy read back are byte for byte the
# source.
NBDKIT_TEST_TOOLS="qemu-img"
. "$(dirname "$0")/lib.sh"
start_backend 16M 2
start_nbdkit --threads=4 -- queues=2
qemu_img_roundtrip 16777216
exit 0
