#!/usr/bin/env bash
# SPDX-License-Identifier: MIT
# over-rbd.sh - a vblkd stand-in for the guest harness (tests/guest) that
# serves the disk from the RBD image of a running test cluster:
#     over-rbd.sh --socket SOCK --disk IMG[,OPTS]
# imports IMG into the image rbd/guest, serves rbd:rbd/guest[,OPTS] with
# RBD_SERVER=vblkd ($VBLKD_REAL) or RBD_SERVER=qsd (qemu-storage-daemon,
# --blockdev driver=rbd), and on SIGTERM stops the server, then writes the
# image back over IMG with `rbd export`: the host-side checks of the guest
# test read the bytes as Ceph holds them. Needs CEPH_CONF.
# Started again after a SIGKILL (the guest reconnect test: IMG.over-rbd,
# written after the import, is still there), it serves the image as Ceph
# has it instead of importing IMG again.
# RBD_DIFF_OUT=FILE: before the export, `rbd diff --format json` of the
# image (its allocated extents) into FILE, to judge discards on Ceph's side.
# SIGHUP (run-guest.sh --resize-to grew IMG): `rbd resize` the image to IMG's
# size, as an administrator would on Ceph's side; the server is not
# signalled, it must learn the size from the cluster itself.
set -euo pipefail
# shellcheck source=../guest/standin-args.sh
. "$(dirname "${BASH_SOURCE[0]}")/../guest/standin-args.sh"
standin_args over-rbd "$@"
[ -n "${CEPH_CONF:-}" ] ||
    { echo "usage: CEPH_CONF=... $0 --socket SOCK --disk IMG[,OPTS]" >&2; exit 2; }
if [ ! -e "$img.over-rbd" ]; then
    timeout 120 rbd import --no-progress --image-feature layering "$img" rbd/guest >&2 ||
        { echo "over-rbd: rbd import failed" >&2; exit 1; }
    : >"$img.over-rbd"
fi
case "${RBD_SERVER:-vblkd}" in
vblkd)
    "$VBLKD_REAL" --socket "$sock" --disk "rbd:rbd/guest:conf=$CEPH_CONF$opts" &
    ;;
qsd)
    queues=1 writable=on
    IFS=, read -ra words <<<"${opts#,}"
    for o in "${words[@]}"; do
        case "$o" in
            queues=*) queues=${o#queues=} ;;
            ro) writable=off ;;
        esac
    done
    "${QSD:-qemu-storage-daemon}" \
        --blockdev "driver=rbd,node-name=disk0,pool=rbd,image=guest,conf=$CEPH_CONF,cache.direct=on,discard=unmap" \
        --export "type=vhost-user-blk,id=exp0,node-name=disk0,addr.type=unix,addr.path=$sock,writable=$writable,num-queues=$queues" &
    ;;
*)
    echo "over-rbd: RBD_SERVER must be vblkd or qsd" >&2; exit 2 ;;
esac
srv=$!
echo "over-rbd: rbd/guest served by ${RBD_SERVER:-vblkd} (pid $srv)" >&2
finish() {
    kill -TERM $srv 2>/dev/null
    wait $srv
    rc=$?
    rm -f "$img.rbd" "$img.over-rbd"
    if [ -n "${RBD_DIFF_OUT:-}" ]; then
        timeout 60 rbd diff --format json rbd/guest >"$RBD_DIFF_OUT" 2>&1 || rc=1
    fi
    timeout 120 rbd export rbd/guest "$img.rbd" >/dev/null 2>&1 && mv "$img.rbd" "$img" || rc=1
    timeout 60 rbd rm rbd/guest >/dev/null 2>&1 || true
    exit $rc
}
grow() {
    local mib=$(( $(stat -c %s "$img") >> 20 ))
    echo "over-rbd: rbd resize rbd/guest to $mib MiB" >&2
    timeout 60 rbd resize --no-progress --size "${mib}M" rbd/guest >&2 ||
        echo "over-rbd: rbd resize failed" >&2
}
trap finish TERM INT
trap grow HUP
# A trapped SIGHUP ends the wait early: wait again while the server runs.
while :; do
    wait $srv && break
    kill -0 $srv 2>/dev/null || break
done
finish
