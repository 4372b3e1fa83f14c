#!/bin/sh
# SPDX-License-Identifier: MIT
# run_c.sh PROGRAM QUEUES: run a libvblk C test against a fresh back end
# (VBLK_SOCK, VBLK_IMG, VBLK_SERIAL in its environment).
. "$(dirname "$0")/backend.sh"
start_backend 64M "$2"
VBLK_SOCK=$SOCK VBLK_IMG=$IMG VBLK_SERIAL=$SERIAL "$1"
rc=$?
[ $rc -eq 0 ] || [ $rc -eq 77 ] || { echo "--- back end log:"; cat "$TMP/backend.log"; }
exit $rc
