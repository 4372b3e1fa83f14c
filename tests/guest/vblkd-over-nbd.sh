#!/usr/bin/env bash
# vblkd-over-nbd.sh - run vblkd with its disk on an NBD server (issue 6).
#
# Takes the vblkd command line run-guest.sh uses,
#     vblkd-over-nbd.sh --socket SOCK --disk IMG[,OPTS]
# starts `nbdkit file IMG` on a private unix socket, and runs $VBLKD_REAL with
# --disk 'nbd+unix:///?socket=NBDSOCK[,OPTS]'. The guest test is unchanged and
# the host still checks IMG, which now received every byte through NBD:
#   VBLK_GUEST_BACKEND=vblkd VBLKD=tests/guest/vblkd-over-nbd.sh \
#   VBLKD_REAL=build/tools/vblkd tests/guest/test_guest_basic.sh
# run-guest.sh stops the backend's whole process group; nbdkit runs in a
# session of its own so that vblkd can drain and flush through it first.
set -euo pipefail
# shellcheck source=standin-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/standin-args.sh"
standin_args vblkd-over-nbd "$@"
[ -x "${VBLKD_REAL:-}" ] || { echo "vblkd-over-nbd: set VBLKD_REAL to the vblkd binary" >&2; exit 2; }
command -v nbdkit >/dev/null || { echo "vblkd-over-nbd: nbdkit not installed" >&2; exit 2; }
nsock=$(dirname "$sock")/nbd.sock
# Own session: a SIGTERM to our process group must reach vblkd only, which
# then flushes through NBD; nbdkit follows when we exit (--exit-with-parent).
setsid nbdkit --exit-with-parent -f -U "$nsock" file "$img" &
nbd=$!
for _ in $(seq 100); do [ -S "$nsock" ] && break; sleep 0.05; done
[ -S "$nsock" ] || { echo "vblkd-over-nbd: nbdkit did not start" >&2; exit 1; }
"$VBLKD_REAL" --socket "$sock" --disk "nbd+unix:///?socket=$nsock$opts" &
vb=$!
# Forward a stop to vblkd first: it finishes in-flight I/O through NBD.
trap 'kill -TERM $vb 2>/dev/null; wait $vb; rc=$?; kill -TERM $nbd 2>/dev/null; wait $nbd; exit $rc' TERM INT
wait $vb
rc=$?
kill -TERM $nbd 2>/dev/null || true
wait $nbd || true
exit $rc
