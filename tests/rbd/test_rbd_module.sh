#!/bin/sh
# SPDX-License-Identifier: MIT
# The RBD backend is a module (vblk-backend-rbd.so) loaded only for an rbd:
# disk, no cluster needed:
# - vblkd serving a file disk maps neither the module nor librbd/librados;
# - with VBLK_MODULE_DIR pointing at an empty directory, vblkd and
#   `vblk copy` on an rbd: disk exit 1 saying "rbd: support not installed"
#   and naming the module the loader could not open;
# - found the usual way (next to build/tools), the module parses the spec and
#   logs through the executable's log (a malformed spec says "want rbd:POOL").
# Arguments: VBLKD VBLK CEPH_CLUSTER_SH
. "$(dirname "$0")/lib.sh"

truncate -s 16M "$TMP/img"
start_vblkd "$TMP/s" "$TMP/img"
grep -E 'librbd|librados|vblk-backend-rbd' "/proc/$VBLKD_PID/maps" &&
	fail "vblkd with a file disk maps the RBD libraries"
grep -q 'liburing' "/proc/$VBLKD_PID/maps" || fail "reading /proc/$VBLKD_PID/maps found nothing"

mkdir "$TMP/nomod"
VBLK_MODULE_DIR=$TMP/nomod timeout 30 "$VBLKD" --socket "$TMP/r" --disk rbd:rbd/disk \
	>"$TMP/nomod.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "vblkd without the module: exit $rc, want 1: $(cat "$TMP/nomod.out")"
grep -q 'rbd: support not installed: .*vblk-backend-rbd.so' "$TMP/nomod.out" ||
	fail "vblkd without the module said: $(cat "$TMP/nomod.out")"

VBLK_MODULE_DIR=$TMP/nomod timeout 30 "$VBLK" copy rbd:rbd/disk "$TMP/copy" \
	>"$TMP/copy.out" 2>&1
rc=$?
[ $rc -ne 0 ] || fail "vblk copy without the module succeeded"
grep -q 'rbd: support not installed' "$TMP/copy.out" ||
	fail "vblk copy without the module said: $(cat "$TMP/copy.out")"

timeout 30 "$VBLKD" --socket "$TMP/r" --disk rbd:disk >"$TMP/spec.out" 2>&1
rc=$?
[ $rc -eq 1 ] || fail "vblkd on rbd:disk: exit $rc, want 1: $(cat "$TMP/spec.out")"
grep -q '^vblkd: .*want rbd:POOL' "$TMP/spec.out" ||
	fail "the module did not parse the spec or log as vblkd: $(cat "$TMP/spec.out")"
echo PASS
